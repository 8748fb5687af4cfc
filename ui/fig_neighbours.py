"""Pure builders for the Neighbours & arithmetic page: strips, captions and short texts.
No Streamlit here."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from . import figures

STRIP_STRENGTHS = (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0)


def strip_png(images: torch.Tensor, scale: int = 2) -> bytes:
    """(S, C, H, W) images in [0, 1] as one row, ``scale`` times upscaled, PNG bytes."""
    mosaic = figures.grid(images, len(images))
    return figures.png_bytes(figures.upscale(mosaic, max(mosaic.shape[:2]) * scale))


def strength_text(values: Sequence[float]) -> str:
    """``s = −2, −1, 0, +1`` for a strip's strengths (typographic minus)."""
    def one(s: float) -> str:
        return ("−" if s < 0 else "+" if s > 0 else "") + f"{abs(s):g}"
    return "s = " + ", ".join(one(float(s)) for s in values)


def neighbour_caption(rank: int, test_id: int, class_name: str, distance: float) -> str:
    """``1. #123 · 9 · d 0.123`` (rank from 1)."""
    return f"{rank}. #{test_id} · {class_name} · d {distance:.3g}"


def nearest_class(z: np.ndarray, class_means: np.ndarray) -> int | None:
    """The class whose mean code (K, D) is nearest ``z`` (D,) in Euclidean distance (ties: the
    lower class); None when no class has a mean (all rows NaN)."""
    d = np.linalg.norm(np.asarray(class_means, dtype=np.float64) - np.asarray(z, dtype=np.float64), axis=1)
    if not np.isfinite(d).any():
        return None
    return int(np.nanargmin(np.where(np.isfinite(d), d, np.nan)))


def vector_text(v: np.ndarray, z: np.ndarray) -> str:
    """How long the attribute vector v (D,) is, next to the query code z (D,)."""
    nv, nz = float(np.linalg.norm(v)), float(np.linalg.norm(z))
    return (f"|v| = {nv:.3g} (the query's code has |z| = {nz:.3g}; a typical code of the prior is about "
            f"√D = {len(v) ** 0.5:.3g} long)")
