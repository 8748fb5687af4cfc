"""A user's image folder as a dataset: ``folder:PATH``.

Images directly in PATH get label 0; images in subfolders are labelled by subfolder (sorted
names). Every image is converted to the chosen channels and resized once, at load time, into
one uint8 tensor. A fixed 10% (at least one image) is held out as the test split.

Only PNG, JPEG, WebP, BMP and GIF are decoded (a TIFF or EPS renamed ``.png`` is never handed
to another decoder), each image's declared size is checked before decoding, and any file that
fails in any way is skipped and counted. Folders inside the uploads folder (unpacked zips, see
``services/uploads.py``) are named "uploaded zip dataset <digest>" in messages, never by path.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import settings
from .base import DatasetUnavailable, ImageData

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # the decoders Pillow may use, whatever the file says
MAX_PIXELS = 16_000_000  # per image, from its header: larger images are skipped undecoded
MAX_SIDE = 8_000
TEST_FRACTION = 0.1
MAX_IMAGES = 200_000


def _class_name(folder: str) -> str:
    """A subfolder's name as a class label: letters, digits, space and ``-_.`` only, at most 40
    characters (the names can come from an uploaded zip and are shown in legends and captions)."""
    return re.sub(r"[^\w .-]", "_", folder)[:40] or "_"


def _list_images(root: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """Image paths, their labels and the class names (``("all",)`` when there are no subfolders)."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    labelled = [(sub, sorted(q for q in sub.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES)) for sub in subdirs]
    labelled = [(sub, files) for sub, files in labelled if files]
    if labelled:
        paths = [f for _, files in labelled for f in files]
        labels = [i for i, (_, files) in enumerate(labelled) for _ in files]
        return paths, labels, tuple(_class_name(sub.name) for sub, _ in labelled)
    paths = sorted(q for q in root.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
    return paths, [0] * len(paths), ("all",)


def _read(path: Path, channels: int, size: int) -> np.ndarray | None:
    """(size, size, channels) uint8, or None for a file that cannot be used, for whatever reason.

    The limits are checked here, on the header, rather than through ``Image.MAX_IMAGE_PIXELS``
    (a global the app sets, but this runs in the training worker too)."""
    try:
        with Image.open(path, formats=FORMATS) as im:
            w, h = im.size
            if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
                return None
            im.draft(None, (2 * size, 2 * size))  # JPEG: decode at 1/2, 1/4 or 1/8 scale when large
            im = im.convert("L" if channels == 1 else "RGB")
            im = im.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
            arr = np.asarray(im, dtype=np.uint8)
    except Exception:  # UnidentifiedImageError, SyntaxError, struct.error, EOFError, DecompressionBombError...
        return None
    return arr[:, :, None] if arr.ndim == 2 else arr


def describe(path: str | Path) -> str:
    """How a folder is named to users: "uploaded zip dataset <digest>" inside the uploads folder
    (never a server path), else the path itself (a CLI user's own folder)."""
    root = Path(path).expanduser()
    try:
        rel = root.resolve().relative_to(settings.uploads_dir().expanduser().resolve())
    except (ValueError, OSError, RuntimeError):
        return str(root)
    if not rel.parts:
        return "the uploads folder"
    return f"uploaded zip dataset {rel.parts[0].removeprefix('zip-')[:8]}"


def _root(path: str | Path) -> Path:
    """``path`` as a folder, or DatasetUnavailable."""
    root = Path(path).expanduser()
    if not root.is_dir():
        where = describe(root)
        if where.startswith("uploaded zip dataset"):
            raise DatasetUnavailable(f"folder dataset: the {where} is no longer on the server (unused uploads "
                                     "are removed after a while); upload the zip again")
        raise DatasetUnavailable(f"folder dataset: {where} is not a folder")
    return root


def count_images(path: str | Path) -> int:
    """How many image files :func:`load_folder` would try to read (by name; nothing is decoded)."""
    return len(_list_images(_root(path))[0])


def load_folder(path: str | Path, split: str, channels: int = 1, size: int = 28, seed: int = 0) -> ImageData:
    """Load ``split`` of the folder dataset at ``path``. Unreadable files are skipped and counted."""
    root = _root(path)
    where = describe(root)
    paths, labels, classes = _list_images(root)
    if not paths:
        raise DatasetUnavailable(
            f"folder dataset: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {where} or its subfolders"
        )
    if len(paths) > MAX_IMAGES:
        raise DatasetUnavailable(f"folder dataset: {len(paths)} images in {where}; at most {MAX_IMAGES} are supported")
    arrays, kept, skipped = [], [], 0
    for p, label in zip(paths, labels):
        arr = _read(p, channels, size)
        if arr is None:
            skipped += 1
            continue
        arrays.append(arr)
        kept.append(label)
    if not arrays:
        raise DatasetUnavailable(f"folder dataset: none of the {len(paths)} image files in {where} could be read "
                                 f"(PNG, JPEG, WebP, BMP or GIF, at most {MAX_PIXELS // 1_000_000} megapixels each)")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    all_labels = torch.tensor(kept, dtype=torch.long)
    perm = torch.randperm(len(kept), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, round(TEST_FRACTION * len(kept))) if len(kept) > 1 else 0
    index = perm[:n_test] if split == "test" else perm[n_test:]
    if split == "test" and n_test == 0:
        index = perm  # a single image: use it for both splits
    note = f", {skipped} unreadable file(s) skipped" if skipped else ""
    label = where if where.startswith("uploaded") else f"folder {where}"
    return ImageData(
        name=f"folder:{root}", split=split, images=images[index], labels=all_labels[index], classes=classes,
        source=f"{label}: {len(index)} of {len(kept)} images ({split} split){note}",
    )


