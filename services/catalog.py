"""The model catalog: shipped checkpoints in ``models/``, the models a teacher published to the
class, and the asking actor's own trained models (:mod:`services.workspace` says where each lives).

User models live under ``$VAE_USER_MODELS`` (default ``~/.local/share/vae-latent-lab/models``),
never in the shipped folder. Shipped names are reserved and always win a name lookup.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from services.workspace import CLASS_DIR, LOCAL, WORKSPACE_PREFIX, Actor, class_dir, models_dir_for
from vae.checkpoint import WEIGHTS_FILE, CheckpointError, read_card
from vae.settings import user_models_dir

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = "mnist-2d"


@dataclass(frozen=True)
class ModelEntry:
    """One loadable checkpoint as the picker shows it."""

    name: str
    path: Path
    origin: str  # "shipped", "class" (published by the teacher) or "yours"
    dataset: str
    arch: str
    latent_dim: int
    neg_elbo: float | None
    mtime: float

    @property
    def shipped(self) -> bool:
        return self.origin == "shipped"

    @property
    def dataset_label(self) -> str:
        """The dataset as the browser may see it: a registry name, or 'folder NAME' (never a path)."""
        return dataset_label(self.dataset)

    @property
    def label(self) -> str:
        score = f", test -ELBO {self.neg_elbo:.1f}" if self.neg_elbo is not None else ""
        origin = {"shipped": "", "class": " (class)", "yours": " (yours)"}[self.origin]
        return f"{self.name}{origin}: {self.dataset_label}, {self.latent_dim}-D {self.arch}{score}"


def dataset_label(name: str) -> str:
    """``folder:/srv/x/datasets/zip-ab12`` -> ``folder zip-ab12``; other names as they are, with
    anything but letters, digits and ``-_.:`` replaced (card text is not trusted)."""
    if name.startswith("folder:"):
        name = "folder " + Path(name[len("folder:"):]).name
    return re.sub(r"[^\w .:-]", "_", name)[:80]


def _entry(path: Path, origin: str) -> ModelEntry:
    card = read_card(path)
    metrics = card.get("metrics") or {}
    model = card.get("model") or {}
    return ModelEntry(name=path.name, path=path, origin=origin, dataset=str(card.get("dataset", "?")),
                      arch=str(model.get("arch", "?")), latent_dim=int(model.get("latent_dim", 0)),
                      neg_elbo=metrics.get("neg_elbo"), mtime=(path / "model.safetensors").stat().st_mtime
                      if (path / "model.safetensors").exists() else 0.0)


def model_roots(actor: Actor | None = LOCAL, shipped_dir: Path | None = None,
                user_dir: Path | None = None) -> list[tuple[Path, str]]:
    """The folders ``actor`` sees, in lookup order, with their origin: shipped, the class's
    published models, then the actor's own (none for ``actor=None``: nobody, or not known yet)."""
    root = Path(user_dir) if user_dir is not None else user_models_dir()
    roots = [(Path(shipped_dir or SHIPPED_DIR), "shipped"), (class_dir(root), "class")]
    return roots if actor is None else [*roots, (models_dir_for(actor, root), "yours")]


def _is_model_folder(path: Path, origin: str) -> bool:
    """A checkpoint folder to list (not hidden; in the user root, not a workspace or class folder;
    in the shipped root, one with weights: ``models/sweeps/`` holds weight-less cards)."""
    if not path.is_dir() or path.name.startswith("."):
        return False
    if origin == "shipped" and not (path / WEIGHTS_FILE).is_file():
        return False
    return origin != "yours" or not (path.name == CLASS_DIR or path.name.startswith(WORKSPACE_PREFIX))


def list_models(shipped_dir: Path | None = None, user_dir: Path | None = None,
                actor: Actor | None = LOCAL) -> tuple[list[ModelEntry], list[str]]:
    """The checkpoints ``actor`` may use, shipped first, then the class's, then their own (each
    by name), and one problem line per folder that could not be read. A name already listed
    (a shipped one) is never listed again: shipped models always win a name lookup."""
    entries: list[ModelEntry] = []
    problems: list[str] = []
    seen: set[str] = set()
    for root, origin in model_roots(actor, shipped_dir, user_dir):
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.iterdir() if _is_model_folder(p, origin)):
            if path.name in seen:
                continue
            try:
                entries.append(_entry(path, origin))
                seen.add(path.name)
            except (CheckpointError, OSError, ValueError, TypeError) as exc:
                problems.append(f"{path.name}: {exc}")
    return entries, problems


def publish(model_path: Path, name: str, actor: Actor, user_dir: Path | None = None) -> Path:
    """Copy a student's model into the class folder as ``name`` (teacher only); returns the copy.

    The source must be a readable checkpoint inside the user-models folder; the name follows the
    rules of trained models (no shipped names, no overwriting a published one)."""
    from services.jobs import JobError, check_model_name, validate_name  # jobs imports this module's peers

    from .workspace import AccessError

    if not actor.teacher:
        raise AccessError("Only the teacher can publish models to the class.")
    root = (Path(user_dir) if user_dir is not None else user_models_dir()).resolve()
    src = Path(model_path).resolve()
    if root not in src.parents or src.parent == class_dir(root):
        raise JobError("Only a student's trained model can be published.")
    try:
        read_card(src)
    except CheckpointError:
        raise JobError(f"The model '{src.name}' cannot be read, so it cannot be published.") from None
    check_model_name(name)
    dest = validate_name(name, class_dir(root))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.publish-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("training_state.safetensors"))
    os.rename(tmp, dest)
    return dest
