"""Small class-balanced samples of the official MNIST / Fashion-MNIST test sets, shipped in
``vae/data/samples/`` so the app works offline. Attribution: ``vae/data/samples/README.md``.

Each ``NAME-test-sample.npz`` holds ``images`` (N, 28, 28) uint8, ``labels`` (N,) uint8 and
``indices`` (N,) int32 (position in the official test set); read with ``allow_pickle=False``.

Rebuild: ``python -m vae.data.samples --data-dir ../shared/data``
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from .base import ImageData
from .torchvision_sets import CREDITS, FASHION_CLASSES, MNIST_CLASSES, load_torchvision

SAMPLE_DIR = Path(__file__).with_name("samples")
SAMPLE_SIZE = 2000
CLASSES = {"mnist": MNIST_CLASSES, "fashion-mnist": FASHION_CLASSES}


def sample_path(name: str) -> Path:
    return SAMPLE_DIR / f"{name}-test-sample.npz"


def has_sample(name: str) -> bool:
    return sample_path(name).is_file()


def load_sample(name: str, split: str = "test") -> ImageData:
    """The shipped sample of ``name``'s official test set (also served for ``split='train'``)."""
    with np.load(sample_path(name), allow_pickle=False) as z:
        images, labels, indices = z["images"], z["labels"], z["indices"]
    note = "" if split == "test" else "; no full training set was found, so training uses these test images"
    return ImageData(
        name=name, split=split, images=torch.from_numpy(images).unsqueeze(1).contiguous(),
        labels=torch.from_numpy(labels.astype(np.int64)), classes=CLASSES[name],
        source=f"shipped sample of {len(labels)} images of the official {CREDITS[name]} test set{note}",
        indices=torch.from_numpy(indices.astype(np.int64)),
    )


def balanced_indices(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` indices with (as near as possible) equal counts per class, sorted."""
    classes = labels.unique()
    per = n // len(classes)
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in classes:
        members = (labels == c).nonzero().flatten()
        picks.append(members[torch.randperm(len(members), generator=g)[:per]])
    return torch.cat(picks).sort().values


def build_sample(name: str, data_dir: Path, n: int = SAMPLE_SIZE, seed: int = 0) -> Path:
    test = load_torchvision(name, "test", data_dir, download=False)
    idx = balanced_indices(test.labels, n, seed)
    SAMPLE_DIR.mkdir(exist_ok=True)
    out = sample_path(name)
    np.savez_compressed(out, images=test.images[idx, 0].numpy(), labels=test.labels[idx].numpy().astype(np.uint8),
                        indices=idx.numpy().astype(np.int32))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild the shipped test-set samples from full data.")
    parser.add_argument("--data-dir", required=True, help="folder with MNIST/raw and FashionMNIST/raw")
    parser.add_argument("--n", type=int, default=SAMPLE_SIZE, help="images per sample (class-balanced)")
    args = parser.parse_args()
    for name in CLASSES:
        out = build_sample(name, Path(args.data_dir), args.n)
        print(f"{out}: {out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
