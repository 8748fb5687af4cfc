"""Checkpoint folders: ``config.json`` + ``model.safetensors`` (+ ``metrics.json``,
+ ``training_state.safetensors`` for resuming). Nothing is ever unpickled.

Saving is atomic at the folder level: everything is written into a temporary sibling
folder, which then replaces the old one by two renames. A crash mid-save leaves the previous
checkpoint intact (under its own name, or a ``.NAME.old-*`` sibling that :func:`load` restores).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .config import ConfigError, ModelConfig
from .models import VAE, build_model
from .progress import TrainState

FORMAT_NAME = "vae-latent-lab"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE, STATE_FILE = (
    "config.json", "model.safetensors", "metrics.json", "training_state.safetensors")


class CheckpointError(ValueError):
    """A folder is not a readable checkpoint; the message says what is wrong."""


@dataclass
class Checkpoint:
    """A loaded checkpoint. ``card`` is the parsed ``config.json``."""

    path: Path
    model: VAE
    dataset: str
    card: dict
    metrics: dict | None

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def training(self) -> dict:
        return self.card.get("training") or {}


def save(path: str | os.PathLike, model: VAE, dataset: str, training: dict | None = None,
         metrics: dict | None = None, state: TrainState | None = None, extra: dict | None = None,
         weights_dtype: torch.dtype | None = None) -> Path:
    """Write a checkpoint folder atomically and return its path.

    ``training`` is a JSON-able summary (train config, epochs, wall time, device, history);
    ``extra`` adds top-level card fields (e.g. a description). ``weights_dtype`` (e.g.
    ``torch.float16``, to halve shipped files) stores floating tensors in that type; loading
    always gives a float32 model.
    """
    path = Path(path)
    _recover(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    card = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "model": model.config.to_dict(),
            "dataset": dataset, "training": training or {}, "torch_version": torch.__version__,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "weights_dtype": str(weights_dtype or torch.float32).replace("torch.", ""), **(extra or {})}
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        weights = {k: v.detach().to("cpu", dtype=weights_dtype if weights_dtype and v.is_floating_point() else v.dtype)
                   .contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
        if state is not None:
            tensors, meta = _state_to_flat(state)
            save_file(tensors, str(tmp / STATE_FILE), metadata={"state": json.dumps(meta)})
        if metrics is not None:
            _write_json(tmp / METRICS_FILE, metrics)
        _write_json(tmp / CONFIG_FILE, card)
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _write_json(file: Path, data: Any) -> None:
    with open(file, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, allow_nan=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _swap_in(tmp: Path, path: Path) -> None:
    """Replace ``path`` by ``tmp``: rename old away, rename new in, delete old."""
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}-{time.monotonic_ns()}"
        os.rename(path, old)
    os.rename(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _recover(path: Path) -> None:
    """If a save crashed between its two renames, put the previous checkpoint back."""
    if path.exists() or not path.parent.is_dir():
        return
    olds = sorted(path.parent.glob(f".{path.name}.old-*"))
    if olds:
        os.rename(olds[-1], path)


def read_card(path: str | os.PathLike) -> dict:
    """Parse and validate ``config.json`` only (cheap: no weights). Adds ``metrics`` if present."""
    path = Path(path)
    _recover(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a folder; a checkpoint is a folder with {CONFIG_FILE} and {WEIGHTS_FILE}")
    file = path / CONFIG_FILE
    if not file.is_file():
        raise CheckpointError(f"{path} is not a VAE checkpoint: it has no {CONFIG_FILE}")
    try:
        card = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{file} is damaged: not valid JSON ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{file} is not a {FORMAT_NAME} checkpoint card (no \"format\": \"{FORMAT_NAME}\")")
    version = card.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} was written in checkpoint format version {version!r}; "
                              f"this version of VAE Latent Lab reads version {FORMAT_VERSION}")
    metrics_file = path / METRICS_FILE
    if metrics_file.is_file():
        try:
            card["metrics"] = json.loads(metrics_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{metrics_file} is damaged: not valid JSON ({exc})") from None
    return card


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint folder; validates format version, config, tensor names and shapes."""
    path = Path(path)
    card = read_card(path)
    try:
        config = ModelConfig.from_dict(card.get("model"))
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path / CONFIG_FILE}: invalid model config: {exc}") from None
    tensors = _load_tensors(path / WEIGHTS_FILE)
    model = build_model(config, init=False)
    expected = model.state_dict()
    problems = [f"missing {k} {tuple(v.shape)}" for k, v in expected.items() if k not in tensors]
    problems += [f"unexpected {k}" for k in tensors if k not in expected]
    problems += [f"{k}: file has {tuple(tensors[k].shape)}, config needs {tuple(v.shape)}"
                 for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise CheckpointError(f"{path / WEIGHTS_FILE} does not match {CONFIG_FILE}: {'; '.join(problems[:5])}{more}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, strict=True)
    model.to(device).eval()
    return Checkpoint(path=path, model=model, dataset=str(card.get("dataset", "")), card=card,
                      metrics=card.get("metrics"))


def _load_tensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise CheckpointError(f"{file.parent} is incomplete: {file.name} is missing")
    try:
        return load_file(str(file))
    except Exception as exc:  # safetensors raises its own error types for truncated/corrupt files
        raise CheckpointError(f"{file} is damaged or truncated ({type(exc).__name__}: {exc})") from None


def load_train_state(path: str | os.PathLike) -> TrainState | None:
    """The resumable training state saved with a checkpoint, or None if it has none."""
    path = Path(path)
    file = path / STATE_FILE
    if not file.is_file():
        return None
    tensors = _load_tensors(file)
    try:
        from safetensors import safe_open
        with safe_open(str(file), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})["state"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{file} is damaged: no readable training state ({exc})") from None
    history = (read_card(path).get("training") or {}).get("history", [])
    return _state_from_flat(tensors, meta, history)


def _state_to_flat(state: TrainState) -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {}
    for name in ("perm", "shuffle_rng", "noise_rng"):
        value = getattr(state, name)
        if value is not None:
            tensors[name] = value.detach().cpu().contiguous()
    scalars: dict[str, Any] = {}
    opt = state.optimizer or {"state": {}, "param_groups": []}
    for pid, entries in opt["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    meta = {"epoch": state.epoch, "epoch_step": state.epoch_step, "global_step": state.global_step,
            "epoch_sums": state.epoch_sums, "wall_seconds": state.wall_seconds,
            "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
            "has_optimizer": bool(state.optimizer)}
    return tensors, meta


def _state_from_flat(tensors: dict[str, torch.Tensor], meta: dict, history: list[dict]) -> TrainState:
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value
    for key, value in meta["optimizer"]["scalars"].items():
        pid, name = key.split(".", 1)
        opt_state.setdefault(int(pid), {})[name] = value
    optimizer = None
    if meta["has_optimizer"]:
        optimizer = {"state": opt_state, "param_groups": meta["optimizer"]["param_groups"]}
    return TrainState(epoch=meta["epoch"], epoch_step=meta["epoch_step"], global_step=meta["global_step"],
                      perm=tensors.get("perm"), shuffle_rng=tensors.get("shuffle_rng"),
                      noise_rng=tensors.get("noise_rng"), optimizer=optimizer, epoch_sums=list(meta["epoch_sums"]),
                      history=list(history), wall_seconds=meta["wall_seconds"])
