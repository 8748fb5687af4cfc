"""The model catalog: shipped checkpoints in ``models/`` and the user's own trained models.

User models live in ``$VAE_USER_MODELS`` (default ``~/.local/share/vae-latent-lab/models``),
never in the shipped folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vae.checkpoint import CheckpointError, read_card
from vae.settings import user_models_dir

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = "mnist-2d"


@dataclass(frozen=True)
class ModelEntry:
    """One loadable checkpoint as the picker shows it."""

    name: str
    path: Path
    shipped: bool
    dataset: str
    arch: str
    latent_dim: int
    neg_elbo: float | None
    mtime: float

    @property
    def label(self) -> str:
        score = f", test -ELBO {self.neg_elbo:.1f}" if self.neg_elbo is not None else ""
        origin = "" if self.shipped else " (yours)"
        return f"{self.name}{origin}: {self.dataset}, {self.latent_dim}-D {self.arch}{score}"


def _entry(path: Path, shipped: bool) -> ModelEntry:
    card = read_card(path)
    metrics = card.get("metrics") or {}
    model = card.get("model") or {}
    return ModelEntry(name=path.name, path=path, shipped=shipped, dataset=str(card.get("dataset", "?")),
                      arch=str(model.get("arch", "?")), latent_dim=int(model.get("latent_dim", 0)),
                      neg_elbo=metrics.get("neg_elbo"), mtime=(path / "model.safetensors").stat().st_mtime
                      if (path / "model.safetensors").exists() else 0.0)


def list_models(shipped_dir: Path | None = None, user_dir: Path | None = None) -> tuple[list[ModelEntry], list[str]]:
    """All readable checkpoints (shipped first, then the user's by name) and one problem line per
    folder that could not be read."""
    entries, problems = [], []
    for root, shipped in ((shipped_dir or SHIPPED_DIR, True), (user_dir or user_models_dir(), False)):
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                entries.append(_entry(path, shipped))
            except (CheckpointError, OSError, ValueError, TypeError) as exc:
                problems.append(f"{path.name}: {exc}")
    return entries, problems
