"""What a training request must pass before the job registry queues it: a safe model name, the
server's limits (:func:`vae.settings.limits`) and, on a shared server, CPU-only, bounded models
and only listed or uploaded datasets. Every check reads no data. No Streamlit here.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from services import uploads
from services.workspace import WORKSPACE_PREFIX, AccessError, reserved_names
from vae import settings
from vae.config import TrainConfig
from vae.registry import FOLDER_PREFIX
from vae.runspec import DataSpec, RunSpec

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SHARED_MODES = ("classroom", "public")
MAX_MODEL_PARAMS = 25_000_000  # classroom/public: larger models would not fit beside 30 others
MAX_IWAE_K = 100  # classroom/public: the final IWAE estimate runs after the time limit's last check
DATASETS_ONLY = "Datasets are the listed ones or a zip you uploaded here."


class JobError(ValueError):
    """A request the registry refuses (bad name, unknown job, wrong state, over a limit); the
    message says why, for the user."""


class JobAccessError(JobError, AccessError):
    """A request about someone else's job."""


def validate_name(name: str, models_dir: Path, overwrite: bool = False) -> Path:
    """The output folder for model ``name``; refuses path tricks and silent overwrites."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
        raise JobError("Model names use letters, digits, '-', '_' and '.', start with a letter or digit, "
                       "and are at most 64 characters (no slashes or '..').")
    out = (models_dir / name).resolve()
    if out.parent != models_dir.resolve():
        raise JobError(f"'{name}' would be saved outside the models folder.")
    if out.exists() and not overwrite:
        raise JobError(f"A model called '{name}' already exists. Choose another name, or tick "
                       "'replace an existing model of the same name'.")
    return out


def check_model_name(name: str) -> None:
    """Refuse names kept for shipped models and for workspace folders (JobError)."""
    if isinstance(name, str) and name.lower() in {r.lower() for r in reserved_names()}:
        raise JobError(f"'{name}' is the name of a shipped model; choose another name")
    if isinstance(name, str) and name.lower().startswith(WORKSPACE_PREFIX):
        raise JobError(f"Names starting with '{WORKSPACE_PREFIX}' are kept for workspaces; choose another name")


def is_server_upload(path: str) -> bool:
    """True for a dataset folder this server unpacked from an upload (services.uploads decides)."""
    return uploads.is_server_upload(path)


def is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_train(train: TrainConfig, limits: settings.Limits) -> None:
    if not is_count(train.epochs) or not 1 <= train.epochs <= limits.max_epochs:
        raise JobError(f"Epochs must be a whole number from 1 to {limits.max_epochs} on this server.")
    if not is_count(train.batch_size) or not 1 <= train.batch_size <= limits.max_batch_size:
        raise JobError(f"The batch size must be a whole number from 1 to {limits.max_batch_size} on this server.")
    top = max(limits.max_batch_size, TrainConfig().eval_batch_size)
    if not is_count(train.eval_batch_size) or not 1 <= train.eval_batch_size <= top:
        raise JobError(f"The evaluation batch size must be a whole number from 1 to {top}.")
    if not is_count(train.seed):
        raise JobError("The seed must be a whole number.")


def _check_data(data: DataSpec, limits: settings.Limits) -> DataSpec:
    """The dataset as the worker will load it; refuses anything but the registry's sets and this
    server's uploads (never saying whether a path exists) and sets over the size limit."""
    if data.data_dir is not None:
        raise JobError(DATASETS_ONLY)
    if data.name.startswith(FOLDER_PREFIX):
        path = data.name[len(FOLDER_PREFIX):]
        if not is_server_upload(path):
            raise JobError(DATASETS_ONLY)
        data = dataclasses.replace(data, name=f"{FOLDER_PREFIX}{Path(path).expanduser().resolve()}")
        uploads.touch(Path(path))  # in use: the last to be evicted while the job waits
    values = data.train_values()
    if values > limits.max_train_values:
        raise JobError(f"That training set is too large for this server ({values:,} values; images x channels x "
                       f"height x width may be at most {limits.max_train_values:,}). Use fewer or smaller images.")
    return data


def _check_shared(spec: RunSpec) -> None:
    """Classroom/public: CPU only, no checkpoint from elsewhere, bounded model and final estimate."""
    import torch

    from vae.models import VAE

    if spec.device != "cpu":
        raise JobError("Jobs train on the CPU on this server.")
    if spec.resume is not None:
        raise JobError("A new job cannot start from a checkpoint here; resume one of your jobs instead.")
    if spec.final_iwae_k > MAX_IWAE_K:
        raise JobError(f"final_iwae_k may be at most {MAX_IWAE_K} on this server.")
    with torch.device("meta"):  # counts the parameters without allocating them
        params = sum(p.numel() for p in VAE(spec.model).parameters())
    if params > MAX_MODEL_PARAMS:
        raise JobError(f"That model has {params:,} parameters; at most {MAX_MODEL_PARAMS:,} on this server.")


def check_spec(spec: RunSpec, limits: settings.Limits, mode: str) -> RunSpec:
    """``spec`` as the registry runs it (``threads`` 0 becomes 1; a shared server uses 1), or a
    JobError saying which limit it breaks. Reads no data."""
    if not isinstance(spec, RunSpec):
        raise TypeError(f"submit needs a RunSpec, got {type(spec).__name__}")
    check_train(spec.train, limits)
    if mode in SHARED_MODES:
        _check_shared(spec)
    data = _check_data(spec.data, limits)
    threads = 1 if mode in SHARED_MODES else (spec.threads or 1)
    return dataclasses.replace(spec, data=data, threads=threads)


__all__ = ["DATASETS_ONLY", "MAX_IWAE_K", "MAX_MODEL_PARAMS", "NAME_RE", "SHARED_MODES", "JobAccessError", "JobError",
           "check_model_name", "check_spec", "check_train", "is_count", "is_server_upload", "validate_name"]
