"""The one registry: dataset names -> loaders, model preset names -> ModelConfig fields."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import ConfigError, ModelConfig
from .data.base import DatasetUnavailable, ImageData, resolve_data_dir
from .data.folder import load_folder
from .data.samples import has_sample, load_sample
from .data.shapes import make_shapes
from .data.torchvision_sets import load_torchvision

FOLDER_PREFIX = "folder:"
SHAPES_SIZES = {"train": (20_000, 0), "test": (2_000, 1)}  # (images, seed) per split


@dataclass(frozen=True)
class DatasetSpec:
    """How to load one named dataset. ``loader(split, data_dir, download, allow_sample)`` -> ImageData;
    ``num_classes``: how many classes its labels have (what a class-conditional model needs)."""

    name: str
    image_shape: tuple[int, int, int]
    loader: Callable[..., ImageData]
    needs_files: bool
    num_classes: int = 0


def _tv(name: str) -> Callable[[str, Any, bool], ImageData]:
    """Full data from the data root (downloading when allowed); else the shipped test sample."""
    def load(split: str, data_dir: Any, download: bool, allow_sample: bool = True) -> ImageData:
        root = resolve_data_dir(data_dir)
        try:
            return load_torchvision(name, split, root, download)
        except DatasetUnavailable as exc:
            if not has_sample(name):
                raise
            if not allow_sample:
                hint = ("Or train on the shipped 2,000-image sample of the test set "
                        "(--allow-sample; it is test data, so test numbers then mean little).")
                raise DatasetUnavailable(f"{exc} {hint}") from None
        data = load_sample(name, split)
        data.source += f" (full data not found in {root})"
        return data
    return load


def _shapes(size: int) -> Callable[..., ImageData]:
    def load(split: str, data_dir: Any, download: bool, allow_sample: bool = True) -> ImageData:
        n, seed = SHAPES_SIZES[split]
        return make_shapes(n, seed=seed, size=size, split=split)
    return load


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("mnist", (1, 28, 28), _tv("mnist"), True, 10),
    "fashion-mnist": DatasetSpec("fashion-mnist", (1, 28, 28), _tv("fashion-mnist"), True, 10),
    "shapes": DatasetSpec("shapes", (1, 28, 28), _shapes(28), False, 3),
    "shapes-64": DatasetSpec("shapes-64", (1, 64, 64), _shapes(64), False, 3),
}

MODEL_PRESETS: dict[str, dict[str, Any]] = {
    # The reference model of the PyTorch examples VAE: 784-400-20 MLP, ReLU.
    "pytorch-example": {"arch": "mlp", "hidden": (400,), "latent_dim": 20},
    "mlp": {"arch": "mlp", "hidden": (512, 256)},
    "conv": {"arch": "conv", "conv_channels": (32, 64), "conv_fc": 256},
    # Class-conditional versions (give num_classes: the dataset's number of classes).
    "cmlp": {"arch": "cmlp", "hidden": (512, 256)},
    "cconv": {"arch": "cconv", "conv_channels": (32, 64), "conv_fc": 256},
}


def dataset_names() -> list[str]:
    """Registered names, plus the ``folder:PATH`` form."""
    return [*DATASETS, f"{FOLDER_PREFIX}PATH"]


def dataset_classes(name: str) -> int | None:
    """How many classes a registry dataset's labels have, known without loading it; None for
    ``folder:PATH`` datasets (their class folders are counted when loaded) and unknown names."""
    spec = DATASETS.get(name)
    return spec.num_classes if spec is not None and spec.num_classes else None


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 download: bool = True, channels: int = 1, size: int = 28,
                 allow_sample: bool | None = None) -> ImageData:
    """Load one split of a named dataset into memory.

    MNIST-like sets use the full data when found (or downloaded), else the shipped
    2,000-image test sample if ``allow_sample`` (default: True for the test split, False for
    the train split, so nothing trains on test images by accident); ``ImageData.source``
    says which was used.
    ``channels``/``size`` apply to ``folder:PATH`` datasets only. Raises
    :class:`DatasetUnavailable` (a clear message) or :class:`ValueError` for an unknown name.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name.startswith(FOLDER_PREFIX):
        path = name[len(FOLDER_PREFIX):]
        if not path:
            raise DatasetUnavailable("folder dataset: give a path, as in folder:/path/to/images")
        return load_folder(path, split, channels=channels, size=size)
    if allow_sample is None:
        allow_sample = split == "test"
    spec = DATASETS.get(name)
    if spec is None:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(dataset_names())}")
    return spec.loader(split, data_dir, download, allow_sample)


def preset_config(preset: str, **overrides: Any) -> ModelConfig:
    """A ModelConfig from a named preset with field overrides (``None`` values are ignored)."""
    if preset not in MODEL_PRESETS:
        raise ConfigError(f"unknown model preset {preset!r}; choose one of: {', '.join(MODEL_PRESETS)}")
    fields = dict(MODEL_PRESETS[preset])
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return ModelConfig(**fields)


__all__ = ["DATASETS", "MODEL_PRESETS", "DatasetSpec", "DatasetUnavailable", "dataset_classes", "dataset_names",
           "load_dataset", "preset_config"]
