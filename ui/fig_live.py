"""Pure builders for the live-decoding component (ui/live.py): the JSON it is given for the
latent sliders and the latent pad. No Streamlit here."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vae import explore

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


def path_points(plane: Any, z0: torch.Tensor, z1: torch.Tensor, method: str, k: int = 32,
                decimals: int = 4) -> dict[str, list]:
    """The path z0 -> z1 (:func:`vae.explore.interpolate_at`, ``method`` "linear" or "spherical")
    at ``k`` equally spaced t in [0, 1], projected onto ``plane`` (a :class:`vae.plane.LatentPlane`:
    (K, D) codes -> (K, 2) coordinates): ``{"x": [...], "y": [...]}`` rounded to ``decimals``. The
    first and last points are z0's and z1's coordinates; for D > 2 a slerp's projection is a curve."""
    zs = explore.interpolate_at(z0, z1, torch.linspace(0, 1, max(int(k), 2)), method)
    pts = np.round(plane.coords(zs).numpy().astype(np.float64), decimals)
    return {"x": pts[:, 0].tolist(), "y": pts[:, 1].tolist()}


def strip_marker_html(t: float, steps: int, tile: int, pad: int = 2) -> str:
    """A thin bar under the morph's strip (:func:`ui.figures.grid` of ``steps`` tiles ``tile``
    source px wide with ``pad`` px gutters, one row) with a ▲ under the point of the path at ``t``:
    step k sits at t = k / (steps - 1), so the mark is at the centre of tile t (steps - 1) in
    strip coordinates, as a percentage of the strip's width (the bar scales with the image)."""
    width = steps * (tile + pad) + pad
    x = pad + float(t) * (steps - 1) * (tile + pad) + tile / 2
    left = 100.0 * x / width
    return (f'<div class="vae-strip-marker" data-testid="stripMarker" data-t="{float(t):.4f}" '
            f'style="position:relative;width:100%;max-width:{width * 2}px;height:14px" '
            f'aria-label="t = {float(t):.2f} on the strip">'
            f'<span style="position:absolute;left:{left:.3f}%;top:0;transform:translateX(-50%);'
            f'font-size:12px;line-height:14px;color:#ff4b4b">\u25b2</span></div>')
