"""A released drawing from the browser ("Draw a digit"), re-checked before it reaches the model.

The drawing component (:mod:`ui.draw`) prepares the drawing in the browser (``prep.js``: the
same steps and pixels as :mod:`services.preprocess`) and, when the pen is lifted, sends one
value: the prepared H x W gray levels of the model's input, one byte each,

    {"pixels": "<base64 of H*W bytes, row by row>", "width": W, "height": H}

(``pixels`` may also be a list of H*W integers 0..255). Nothing in it is trusted: a tampered
browser can send anything, so :func:`drawing_pixels` checks the type of every field, the size
against the model's own image, the byte count, the value range and the payload's length
before decoding it, and raises :class:`DrawingError` with a message for the user. The caller
recomputes everything (reconstruction, -ELBO, anomaly score) from the returned pixels.
Pure functions, no Streamlit.
"""
from __future__ import annotations

import base64
import binascii
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .preprocess import BLANK

MAX_SIDE = 256  # the largest model image a drawing is prepared for (prep.js refuses more)
MAX_B64_CHARS = 4 * math.ceil(MAX_SIDE * MAX_SIDE / 3) + 8  # longer strings are not decoded at all
MAX_LIST = MAX_SIDE * MAX_SIDE  # longer lists are not looked at
BLANK_PEAK = 16  # no pixel this bright: blank (the browser sends None then; services.preprocess's threshold)


class DrawingError(ValueError):
    """The released drawing cannot be used; the message says why in plain words."""


def _side(value: Any, name: str) -> int:
    """A width or height: an int (not a bool, not a float) in 1..MAX_SIDE."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DrawingError(f"The drawing's {name} is not a whole number.")
    if not 1 <= int(value) <= MAX_SIDE:
        raise DrawingError(f"The drawing's {name} must be 1 to {MAX_SIDE} pixels, not {int(value)}.")
    return int(value)


def _from_base64(text: str, n: int) -> np.ndarray:
    """(n,) uint8 from standard base64 (padding required), refusing anything longer than
    :data:`MAX_B64_CHARS` before decoding."""
    if len(text) > MAX_B64_CHARS:
        raise DrawingError(f"The drawing is too large ({len(text):,} characters; at most {MAX_B64_CHARS:,}).")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise DrawingError("The drawing's pixels are not valid base64.") from None
    if len(raw) != n:
        raise DrawingError(f"The drawing has {len(raw):,} pixel values; this model takes {n:,}.")
    return np.frombuffer(raw, dtype=np.uint8).copy()


def _from_list(values: list | tuple, n: int) -> np.ndarray:
    """(n,) uint8 from a list of integers 0..255."""
    if len(values) > MAX_LIST:
        raise DrawingError(f"The drawing is too large ({len(values):,} values; at most {MAX_LIST:,}).")
    if len(values) != n:
        raise DrawingError(f"The drawing has {len(values):,} pixel values; this model takes {n:,}.")
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise DrawingError("The drawing's pixel values must be whole numbers from 0 to 255.")
    arr = np.asarray([int(v) for v in values], dtype=np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise DrawingError(f"The drawing's pixel values must be 0 to 255, not {int(arr.min())} to {int(arr.max())}.")
    return arr.astype(np.uint8)


def drawing_pixels(value: Any, image_shape: tuple[int, int, int]) -> np.ndarray | None:
    """The released drawing as (H, W) uint8 for a model taking ``image_shape`` (C, H, W), or
    None when nothing is drawn (``value`` None: never released, or cleared).

    Raises :class:`DrawingError` for anything else that is not exactly the model's H x W
    one-byte gray levels in the format of the module doc (a one-channel model only), and for
    a blank one (no pixel of level 16 or more, as :mod:`services.preprocess` refuses)."""
    if value is None:
        return None
    c, h, w = (int(v) for v in image_shape)
    if c != 1:
        raise DrawingError(f"Drawing works with one-channel (grayscale) models; this one has {c} channels.")
    if not isinstance(value, Mapping):
        raise DrawingError("The drawing arrived in an unknown format.")
    width, height = _side(value.get("width"), "width"), _side(value.get("height"), "height")
    if (width, height) != (w, h):
        raise DrawingError(f"The drawing is {width}x{height} pixels; this model takes {w}x{h}.")
    pixels = value.get("pixels")
    if isinstance(pixels, str):
        flat = _from_base64(pixels, h * w)
    elif isinstance(pixels, list | tuple):
        flat = _from_list(pixels, h * w)
    else:
        raise DrawingError("The drawing's pixels are missing or of an unknown type.")
    if int(flat.max(initial=0)) < BLANK_PEAK:
        raise DrawingError(BLANK)
    return flat.reshape(h, w)


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W) uint8 -> (1, 1, H, W) float32 in [0, 1], the model input (as
    :func:`services.preprocess.prepare` makes it: gray level / 255)."""
    return torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.uint8))[None, None].float() / 255.0


def encode(pixels: np.ndarray) -> dict[str, Any]:
    """(H, W) uint8 -> the value the browser sends (tests, and the inverse of :func:`drawing_pixels`)."""
    arr = np.ascontiguousarray(pixels, dtype=np.uint8)
    return {"pixels": base64.b64encode(arr.tobytes()).decode("ascii"), "width": int(arr.shape[1]),
            "height": int(arr.shape[0])}
