"""In-memory image datasets: the common container and the data-root convention."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import settings

DATA_DIR_ENV = "VAE_DATA_DIR"  # named in messages; read by vae.settings


class DatasetUnavailable(RuntimeError):
    """A dataset cannot be loaded; the message says where it was looked for and what to do."""


def default_data_dir() -> Path:
    """The data root from the environment (:func:`vae.settings.data_dir`)."""
    return settings.data_dir()


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """An explicit ``data_dir`` wins over the environment/default."""
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


@dataclass
class ImageData:
    """A whole split held in memory.

    ``images``: (N, C, H, W) uint8; ``labels``: (N,) int64 class index (for colouring);
    ``factors``: optional (N, K) float32 ground-truth generative factors named ``factor_names``.
    ``source`` says in words where the data came from (shown to users).
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    source: str
    factors: torch.Tensor | None = None
    factor_names: tuple[str, ...] = field(default_factory=tuple)
    indices: torch.Tensor | None = None  # (N,) index of each image in the official split

    @property
    def ids(self) -> torch.Tensor:
        """(N,) int64 index of each image in its official split (for linking plots to images)."""
        return self.indices if self.indices is not None else torch.arange(len(self))

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W) uint8, got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be ({self.images.shape[0]},), got {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    def float_images(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """(n, C, H, W) float32 in [0, 1] for the given index (all when None)."""
        imgs = self.images if index is None else self.images[index]
        return imgs.float().div_(255.0)

    def subset(self, index: torch.Tensor) -> ImageData:
        """A new ImageData holding ``index`` (a 1-D index tensor)."""
        return ImageData(
            name=self.name, split=self.split, images=self.images[index], labels=self.labels[index],
            classes=self.classes, source=f"{self.source} (subset of {len(index)})",
            factors=None if self.factors is None else self.factors[index], factor_names=self.factor_names,
            indices=self.ids[index],
        )
