"""Pure builders for the live-decoding component (ui/live.py): the JSON it is given for the
latent sliders and the latent pad. No Streamlit here."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from . import figures


def slider_dims(shown: Sequence[int], kl_per_dim: Sequence[float]) -> list[dict[str, Any]]:
    """One entry per slider, in ``shown`` order: ``{"dim": 3, "label": "z3", "note": "KL 1.25"}``."""
    return [{"dim": int(d), "label": f"z{int(d)}", "note": f"KL {float(kl_per_dim[d]):.2f}"} for d in shown]


def clip_shown(z: np.ndarray, shown: Sequence[int], limit: float) -> np.ndarray:
    """A copy of the (D,) latent ``z`` with the ``shown`` dims clipped to [-limit, limit] (the
    sliders' range); the held, hidden dims keep their values."""
    out = np.asarray(z, dtype=np.float64).copy()
    idx = np.asarray(list(shown), dtype=np.int64)
    out[idx] = np.clip(out[idx], -limit, limit)
    return out


def pad_points(points: np.ndarray, labels: np.ndarray, k: int, generator: torch.Generator,
               decimals: int = 3) -> dict[str, list]:
    """At most ``k`` of the (N, 2) ``points`` drawn without replacement by ``generator``, as
    ``{"x": [...], "y": [...], "c": [class index, ...]}`` rounded to ``decimals``."""
    n = len(points)
    pick = torch.randperm(n, generator=generator)[:k].numpy() if n > k else np.arange(n)
    pts = np.round(np.asarray(points, dtype=np.float64)[pick], decimals)
    return {"x": pts[:, 0].tolist(), "y": pts[:, 1].tolist(),
            "c": np.asarray(labels)[pick].astype(np.int64).tolist()}


def pad_extent(points: np.ndarray, include: tuple[float, float, float, float] | None = None,
               margin: float = 0.08, q: float = 0.5) -> list[float]:
    """A square [x0, x1, y0, y1] around the (N, 2) ``points`` (their ``q``..100-``q`` percentile
    range, so a few outliers do not shrink the cloud) and the box ``include`` (x0, x1, y0, y1),
    widened by ``margin`` of its side on each edge."""
    pts = np.asarray(points, dtype=np.float64)
    lo = np.percentile(pts, q, axis=0)
    hi = np.percentile(pts, 100 - q, axis=0)
    if include is not None:
        lo = np.minimum(lo, [include[0], include[2]])
        hi = np.maximum(hi, [include[1], include[3]])
    centre = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2, 1e-3) * (1 + 2 * margin)
    return [float(centre[0] - half), float(centre[0] + half), float(centre[1] - half), float(centre[1] + half)]


def pad_payload(points: np.ndarray, labels: np.ndarray, generator: torch.Generator, axes: tuple[str, str],
                box: tuple[float, float, float, float] | None = None, k: int = 2000) -> dict[str, Any]:
    """The latent pad's background: ``k`` subsampled points with class colours, the square
    extent, the dashed ``box`` and axis names. ``points_id`` changes when the points do."""
    pts = pad_points(points, labels, k, generator)
    data = {"points": pts, "palette": list(figures.PALETTE), "extent": pad_extent(points, box),
            "box": None if box is None else [float(v) for v in box], "axes": list(axes)}
    data["points_id"] = hashlib.sha1(json.dumps([pts, data["extent"], data["box"]]).encode()).hexdigest()[:12]
    return data
