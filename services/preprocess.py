"""Turn an uploaded image file into model input, step by step, the way MNIST was made.

MNIST (LeCun et al. 1998): grayscale, digit white on black, cropped to its bounding box,
scaled to fit 20x20 keeping the aspect ratio, then placed in 28x28 so that its centre of
mass is at the centre. Every way a file can be bad raises :class:`ImageError` with a
message meant for the user.

Uploads are made cheap to decode: the declared size is checked before decoding, a large image
is reduced right after decoding (JPEG already while decoding) to a working size a few times the
model's, animations are not walked frame by frame, at most :data:`MAX_DECODES` decodes run at
once in the process, and :func:`prepare`'s results (and refusals) are kept in a small LRU cache
keyed by the file's sha256 and the preparation parameters.
"""
from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 16_000_000  # width x height
MAX_SIDE = 8_000
STYLES = ("mnist", "fit", "resize")
INVERT = ("auto", "yes", "no")
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
BLANK = "The image looks blank: it has no visible strokes or shapes, so there is nothing to crop to."
ANIMATION = "This file is an animation (or holds several pictures): the first frame is used."
BUSY = "The server is busy preparing other images; please try again in a moment."
WORK_FACTOR = 4  # a large upload is reduced to this many times the model's side...
WORK_MIN = 256  # ...but never below this many pixels on its longer side, before cropping and fitting
MAX_DECODES = 2  # decodes running at once in this process
DECODE_WAIT_S = 30.0
CACHE_ENTRIES = 64  # prepared uploads kept (a few hundred kB each)
TOO_MANY_PIXELS = (f"The image declares more than {MAX_PIXELS // 1_000_000} megapixels (a possible decompression "
                   "bomb), so it was not opened.")


class ImageError(ValueError):
    """The uploaded file cannot be used; the message says why in plain words."""


@dataclass
class Prepared:
    """``steps``: (caption, HxW or HxWx3 uint8 array) in order; ``tensor``: (1, C, H, W) in [0, 1]."""

    steps: list[tuple[str, np.ndarray]]
    tensor: torch.Tensor
    notes: list[str] = field(default_factory=list)


_DECODES = threading.BoundedSemaphore(MAX_DECODES)
_CACHE: OrderedDict[tuple, Prepared | str] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _check_bytes(data: bytes) -> None:
    if not data:
        raise ImageError("The file is empty (0 bytes).")
    if len(data) > MAX_BYTES:
        raise ImageError(f"The file is {len(data) / 2**20:.1f} MB, over the {MAX_BYTES / 2**20:.0f} MB limit.")


def open_image(data: bytes, notes: list[str] | None = None, max_side: int | None = None) -> Image.Image:
    """Decode ``data`` into an upright single-frame RGB/RGBA/L image, or raise ImageError.

    Only the formats in :data:`FORMATS` are tried (a renamed EPS or TIFF is refused, never
    handed to another decoder). The declared size is checked before any pixel is decoded. With
    ``max_side``, a larger image is reduced (area average) to fit ``max_side`` pixels before
    any costly step. At most :data:`MAX_DECODES` calls decode at once in the process.
    """
    notes = notes if notes is not None else []
    _check_bytes(data)
    if not _DECODES.acquire(timeout=DECODE_WAIT_S):
        raise ImageError(BUSY)
    try:
        return _decode(data, notes, max_side)
    finally:
        _DECODES.release()


def _decode(data: bytes, notes: list[str], max_side: int | None) -> Image.Image:
    """:func:`open_image`'s work, once a decode slot is held."""
    try:
        im = Image.open(io.BytesIO(data), formats=FORMATS)
        _check_size(*im.size)
        if getattr(im, "is_animated", False):  # looks at frame 2 at most: n_frames would walk them all
            im.seek(0)
            notes.append(ANIMATION)
        if max_side is not None:
            im.draft(None, (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
        im.load()
        im = ImageOps.exif_transpose(im)
        if im.mode in WIDE_MODES:  # reduce first: scaling to 8 bits goes through float64
            return _normalise_mode(_shrink(im, max_side), notes)
        return _shrink(_normalise_mode(im, notes), max_side)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("This file is not an image that can be read (use PNG, JPEG, WebP, BMP or GIF).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(TOO_MANY_PIXELS) from None
    except Exception as exc:  # Pillow reports damaged data as OSError, SyntaxError, struct.error, ...
        raise ImageError(f"The image data is damaged or truncated ({exc}).") from None


def _shrink(im: Image.Image, max_side: int | None) -> Image.Image:
    """Reduce (area average) so the longer side is at most ``max_side``; smaller images as they are."""
    if max_side is None or max(im.size) <= max_side:
        return im
    s = max_side / max(im.size)
    return im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.Resampling.BOX)


def _check_size(w: int, h: int) -> None:
    """Refuse declared sizes over the limits before decoding (Pillow itself only warns up to
    2 x ``Image.MAX_IMAGE_PIXELS``, and that global is the app's to set)."""
    if w * h > MAX_PIXELS:
        raise ImageError(TOO_MANY_PIXELS)
    if max(w, h) > MAX_SIDE:
        raise ImageError(f"The image is {w}x{h} pixels; the limit is {MAX_SIDE} pixels per side.")


WIDE_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def _normalise_mode(im: Image.Image, notes: list[str]) -> Image.Image:
    """16-bit, 32-bit, float, CMYK, palette, bilevel... -> L, RGB or RGBA with 8 bits."""
    if im.mode in WIDE_MODES:
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 65535.0 if im.mode.startswith("I;16") else (hi if hi > 255 else 255.0)
        arr = np.clip((arr - (0 if im.mode.startswith("I;16") else min(lo, 0))) / max(scale, 1e-9) * 255.0, 0, 255)
        depth = "16-bit" if im.mode.startswith("I;16") else "32-bit"
        notes.append(f"{depth} grayscale image: scaled to 8 bits per pixel.")
        return Image.fromarray(arr.round().astype(np.uint8), mode="L")
    if "transparency" in im.info and im.mode in ("P", "L", "RGB"):
        return im.convert("RGBA")
    if im.mode == "P":
        return im.convert("RGB")
    if im.mode in ("LA", "PA", "RGBa", "La"):
        return im.convert("RGBA")
    if im.mode in ("L", "RGB", "RGBA"):
        return im
    if im.mode == "CMYK":
        notes.append("CMYK image: converted to RGB.")
    return im.convert("RGB")


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """RGBA -> RGB over a background that contrasts with the opaque pixels."""
    if im.mode != "RGBA":
        return im
    arr = np.asarray(im)
    alpha = arr[..., 3]
    if alpha.min() == 255:
        return im.convert("RGB")
    opaque = arr[..., :3][alpha > 127]
    ink = float(opaque.mean()) if opaque.size else 0.0
    background = (255, 255, 255) if ink < 128 else (0, 0, 0)
    canvas = Image.new("RGB", im.size, background)
    canvas.paste(im, mask=im.getchannel("A"))
    return canvas


def _border(gray: np.ndarray) -> np.ndarray:
    """The outermost rows and columns of an (H, W) image, as one 1-D array."""
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def _level(gray: np.ndarray) -> np.ndarray | None:
    """(H, W) uint8 -> background (border median) black and brightest pixel white, as the
    binary NIST scans behind MNIST were; None when it is so already or the content is not
    brighter than the background. Raises ImageError when the image has no contrast."""
    lo, peak = int(gray.min()), int(gray.max())
    if peak - lo < 16:
        raise ImageError(BLANK)
    bg = float(np.median(_border(gray)))
    if peak - bg < 16 or (bg < 8 and peak >= 192):
        return None
    out = (gray.astype(np.float64) - bg) * (255.0 / (peak - bg))
    return np.clip(out, 0, 255).round().astype(np.uint8)


def _crop_to_content(gray: np.ndarray) -> np.ndarray:
    """Crop to the bounding box of pixels brighter than 20% of the maximum."""
    peak = int(gray.max())
    if peak < 16:
        raise ImageError(BLANK)
    ys, xs = np.nonzero(gray > max(8, 0.2 * peak))
    return gray[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _fit(gray: np.ndarray, box: int) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio."""
    h, w = gray.shape
    s = box / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.LANCZOS))


def _place(img: np.ndarray, height: int, width: int, by_mass: bool) -> np.ndarray:
    """Paste (h, w) ``img`` into a black (height, width) canvas, centred by mass or by its box.

    By mass, the centre of mass lands on pixel coordinate (height/2, width/2), i.e. (14, 14)
    in 28x28, where MNIST's mean centre of mass lies."""
    h, w = img.shape
    if by_mass and img.sum() > 0:
        ys, xs = np.indices(img.shape)
        total = img.astype(np.float64).sum()
        cy, cx = (ys * img).sum() / total, (xs * img).sum() / total
        top, left = round(height / 2 - cy), round(width / 2 - cx)
    else:
        top, left = (height - h) // 2, (width - w) // 2
    top, left = min(max(top, 0), height - h), min(max(left, 0), width - w)
    canvas = np.zeros((height, width), dtype=np.uint8)
    canvas[top:top + h, left:left + w] = img
    return canvas


def prepare(data: bytes, image_shape: tuple[int, int, int], style: str = "mnist", invert: str = "auto") -> Prepared:
    """Decode ``data`` and prepare it for a model taking ``image_shape`` (C, H, W).

    ``style``: ``mnist`` (crop, fit 20x20 of 28, centre by mass), ``fit`` (crop, fit the whole
    frame, centre) or ``resize`` (whole picture resized). ``invert``: ``auto`` (when the border
    is light), ``yes`` or ``no``. Before cropping, a grey background (paper in a photo) is set
    to black and the strokes stretched to white, when needed. Colour models (C=3) always use
    ``resize``. Raises ImageError (message for the user) for any unusable file.

    The same file with the same parameters is prepared once: a cache hit returns the same
    :class:`Prepared` (its arrays read-only; treat it as such) or raises the same refusal.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if invert not in INVERT:
        raise ValueError(f"invert must be one of {INVERT}, got {invert!r}")
    _check_bytes(data)
    key = (hashlib.sha256(data).hexdigest(), tuple(int(v) for v in image_shape), style, invert)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
    if isinstance(hit, str):
        raise ImageError(hit)
    if hit is not None:
        return hit
    try:
        result: Prepared | str = _prepare(data, image_shape, style, invert)
    except ImageError as exc:
        if str(exc) == BUSY:
            raise
        result = str(exc)
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    if isinstance(result, str):
        raise ImageError(result)
    return result


def clear_cache() -> None:
    """Forget every prepared upload (tests; or to free memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _prepare(data: bytes, image_shape: tuple[int, int, int], style: str, invert: str) -> Prepared:
    """:func:`prepare` without the cache."""
    notes: list[str] = []
    c, h, w = image_shape
    im = _flatten_alpha(open_image(data, notes, max_side=max(WORK_MIN, WORK_FACTOR * max(h, w))))
    steps: list[tuple[str, np.ndarray]] = [("uploaded", np.asarray(im.convert("RGB")))]
    if c == 3:
        rgb = np.asarray(im.convert("RGB").resize((w, h), Image.Resampling.LANCZOS))
        steps.append((f"resized to {w}x{h}", rgb))
        return _frozen(Prepared(steps, torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255.0, notes))
    gray = np.asarray(im.convert("L"))
    steps.append(("grayscale", gray))
    if invert == "yes" or (invert == "auto" and np.median(_border(gray)) > 127):
        gray = 255 - gray
        steps.append(("inverted (light background)" if invert == "auto" else "inverted", gray))
    if style == "resize":
        out = np.asarray(Image.fromarray(gray).resize((w, h), Image.Resampling.LANCZOS))
        steps.append((f"resized to {w}x{h}", out))
    else:
        out = _crop_fit_place(gray, h, w, style, steps)
    return _frozen(Prepared(steps, torch.from_numpy(out.copy())[None, None].float() / 255.0, notes))


def _crop_fit_place(gray: np.ndarray, h: int, w: int, style: str, steps: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Level, crop to content, fit, and place in (h, w), appending each step."""
    levelled = _level(gray)
    if levelled is not None:
        gray = levelled
        steps.append(("background to black, contrast stretched", gray))
    cropped = _crop_to_content(gray)
    steps.append(("cropped to content", cropped))
    box = round(min(h, w) * 20 / 28) if style == "mnist" else min(h, w)
    fitted = _fit(cropped, box)
    steps.append((f"fit into {box}x{box}", fitted))
    out = _place(fitted, h, w, by_mass=style == "mnist")
    steps.append((f"centred by mass in {w}x{h}" if style == "mnist" else f"centred in {w}x{h}", out))
    return out


def _frozen(p: Prepared) -> Prepared:
    """Make the step arrays read-only: the result is shared through the cache."""
    for _, arr in p.steps:
        arr.flags.writeable = False
    return p


def default_style(dataset: str) -> str:
    """The preparation that matches how a dataset's images were made."""
    if dataset == "mnist":
        return "mnist"
    if dataset == "fashion-mnist":
        return "fit"
    return "resize"
