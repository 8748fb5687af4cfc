"""A user's image folder as a dataset: ``folder:PATH``.

Images directly in PATH get label 0; images in subfolders are labelled by subfolder (sorted
names). Every image is converted to the chosen channels and resized once, at load time, into
one uint8 tensor. A fixed 10% (at least one image) is held out as the test split.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .base import DatasetUnavailable, ImageData

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
TEST_FRACTION = 0.1
MAX_IMAGES = 200_000


def _list_images(root: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """Image paths, their labels and the class names (``("all",)`` when there are no subfolders)."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    labelled = [(sub, sorted(q for q in sub.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES)) for sub in subdirs]
    labelled = [(sub, files) for sub, files in labelled if files]
    if labelled:
        paths = [f for _, files in labelled for f in files]
        labels = [i for i, (_, files) in enumerate(labelled) for _ in files]
        return paths, labels, tuple(sub.name for sub, _ in labelled)
    paths = sorted(q for q in root.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
    return paths, [0] * len(paths), ("all",)


def _read(path: Path, channels: int, size: int) -> np.ndarray | None:
    """(size, size, channels) uint8, or None for a file Pillow cannot read."""
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            im = im.resize((size, size), Image.Resampling.LANCZOS)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return arr[:, :, None] if arr.ndim == 2 else arr


def load_folder(path: str | Path, split: str, channels: int = 1, size: int = 28, seed: int = 0) -> ImageData:
    """Load ``split`` of the folder dataset at ``path``. Unreadable files are skipped and counted."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetUnavailable(f"folder dataset: {root} is not a folder")
    paths, labels, classes = _list_images(root)
    if not paths:
        raise DatasetUnavailable(
            f"folder dataset: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {root} or its subfolders"
        )
    if len(paths) > MAX_IMAGES:
        raise DatasetUnavailable(f"folder dataset: {len(paths)} images in {root}; at most {MAX_IMAGES} are supported")
    arrays, kept, skipped = [], [], 0
    for p, label in zip(paths, labels):
        arr = _read(p, channels, size)
        if arr is None:
            skipped += 1
            continue
        arrays.append(arr)
        kept.append(label)
    if not arrays:
        raise DatasetUnavailable(f"folder dataset: none of the {len(paths)} image files in {root} could be read")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    all_labels = torch.tensor(kept, dtype=torch.long)
    perm = torch.randperm(len(kept), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, round(TEST_FRACTION * len(kept))) if len(kept) > 1 else 0
    index = perm[:n_test] if split == "test" else perm[n_test:]
    if split == "test" and n_test == 0:
        index = perm  # a single image: use it for both splits
    note = f", {skipped} unreadable file(s) skipped" if skipped else ""
    return ImageData(
        name=f"folder:{root}", split=split, images=images[index], labels=all_labels[index], classes=classes,
        source=f"folder {root}: {len(index)} of {len(kept)} images ({split} split){note}",
    )


MAX_ZIP_FILES = 50_000
MAX_ZIP_BYTES = 500 * 1024 * 1024


def extract_zip(data: bytes, dest: str | Path) -> Path:
    """Safely unpack a zip of images into ``dest`` (created) and return it.

    Only image files are written; members with absolute paths or '..' are refused, and the
    total uncompressed size and file count are capped (zip bombs). Raises DatasetUnavailable.
    """
    import io
    import zipfile

    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DatasetUnavailable("the uploaded file is not a valid zip archive") from None
    members = [m for m in zf.infolist() if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_SUFFIXES]
    if not members:
        raise DatasetUnavailable(f"the zip holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if len(members) > MAX_ZIP_FILES or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
        raise DatasetUnavailable(f"the zip is too large: at most {MAX_ZIP_FILES} images and "
                                 f"{MAX_ZIP_BYTES // 2**20} MB uncompressed")
    for m in members:
        parts = Path(m.filename).parts
        if Path(m.filename).is_absolute() or ".." in parts or m.filename.startswith(("/", "\\")):
            raise DatasetUnavailable(f"the zip contains an unsafe path: {m.filename!r}")
    dest.mkdir(parents=True, exist_ok=True)
    budget = MAX_ZIP_BYTES  # counted on the bytes actually inflated, not the headers' claims
    for m in members:
        target = dest.joinpath(*Path(m.filename).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(m) as src, open(target, "wb") as out:
            data = src.read(budget + 1)
            budget -= len(data)
            if budget < 0:
                raise DatasetUnavailable(f"the zip inflates to more than {MAX_ZIP_BYTES // 2**20} MB")
            out.write(data)
    return dest
