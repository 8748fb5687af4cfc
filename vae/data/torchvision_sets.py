"""MNIST and Fashion-MNIST through torchvision, read straight into uint8 tensors.

torchvision's MNIST classes already hold the whole split as one uint8 tensor, so no image
goes through PIL. Files are looked for in torchvision's layout (``ROOT/MNIST/raw``).

torchvision is imported only when files are read or downloaded: its import pulls in
``torch._dynamo`` (about 2.8 s), which the app's start and the shipped-sample path never need.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .base import DATA_DIR_ENV, DatasetUnavailable, ImageData

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

CREDITS = {"mnist": "MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0)",
           "fashion-mnist": "Fashion-MNIST (Zalando Research; MIT)"}
# name -> (torchvision class and folder name, class names, credit)
_SETS = {
    "mnist": ("MNIST", MNIST_CLASSES, CREDITS["mnist"]),
    "fashion-mnist": ("FashionMNIST", FASHION_CLASSES, CREDITS["fashion-mnist"]),
}
# torchvision reads (and requires) all four uncompressed IDX files in ROOT/FOLDER/raw
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def files_present(name: str, root: Path) -> bool:
    """True when ``name``'s raw files are under ``root`` (no download, no torchvision import)."""
    raw = Path(root) / _SETS[name][0] / "raw"
    return all((raw / f).is_file() for f in RAW_FILES)


def _dataset_class(name: str):
    from torchvision import datasets  # imported here: see the module docstring

    return getattr(datasets, _SETS[name][0])


def load_torchvision(name: str, split: str, root: Path, download: bool = True) -> ImageData:
    """Load ``split`` ('train' or 'test') of ``name`` from ``root``; download when allowed.

    Raises :class:`DatasetUnavailable` with the folder searched and how to provide the files.
    """
    folder, classes, credit = _SETS[name]
    train = split == "train"
    if not files_present(name, root) and not download:
        raise DatasetUnavailable(_missing_message(name, root, folder, None))
    cls = _dataset_class(name)
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise DatasetUnavailable(_missing_message(name, root, folder, None)) from None
        try:
            ds = cls(str(root), train=train, download=True)
        except Exception as exc:  # urllib/HTTP/socket/checksum errors all mean the same to a user
            raise DatasetUnavailable(_missing_message(name, root, folder, exc)) from None
    images = ds.data.unsqueeze(1).contiguous()  # (N, 1, 28, 28) uint8
    labels = torch.as_tensor(ds.targets, dtype=torch.long)
    return ImageData(name=name, split=split, images=images, labels=labels, classes=classes,
                     source=f"full {credit} {split} set ({len(labels)} images) from {root / folder / 'raw'}")


def _missing_message(name: str, root: Path, folder: str, exc: Exception | None) -> str:
    why = "" if exc is None else f" and the download failed ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
    return (
        f"{name}: the dataset files are not in {root / folder / 'raw'}{why}. "
        f"To provide them, copy the IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz) into {root / folder / 'raw'}, "
        f"or point --data-dir or the {DATA_DIR_ENV} environment variable at a folder that holds "
        f"{folder}/raw. Offline, the 'shapes' dataset needs no files."
    )
