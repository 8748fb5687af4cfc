"""Pure figure builders: tensors in, PIL images / PNG / GIF bytes / Plotly figures out.

No Streamlit here, so each builder is unit-testable on its own.
"""
from __future__ import annotations

import functools
import html
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image

# Plotly's default qualitative palette extended to 10 classes (colour-blind friendly order).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def png_config(name: str, scale: int = 2) -> dict:
    """``config`` for ``st.plotly_chart``: the chart's camera button saves it as ``NAME.png``
    (drawn by Plotly in the browser at ``scale`` x its size; no server work)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)[:80] or "figure"
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": safe, "scale": scale}}


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> (H, W) or (H, W, 3) uint8."""
    arr = (img.detach().clamp(0, 1) * 255.0).round().to(torch.uint8).cpu()
    return arr[0].numpy() if arr.shape[0] == 1 else arr.permute(1, 2, 0).numpy()


def upscale(img: torch.Tensor | np.ndarray, size: int) -> Image.Image:
    """One image, nearest-neighbour upscaled so its longer side is about ``size`` px (no blur)."""
    arr = to_uint8(img) if isinstance(img, torch.Tensor) else img
    h, w = arr.shape[:2]
    k = max(1, size // max(h, w))
    return Image.fromarray(arr).resize((w * k, h * k), Image.Resampling.NEAREST)


def grid(images: torch.Tensor, ncol: int, pad: int = 2, pad_value: float = 0.25) -> np.ndarray:
    """(N, C, H, W) -> one uint8 mosaic with ``ncol`` columns and ``pad`` px gutters."""
    n, c, h, w = images.shape
    nrow = -(-n // ncol)
    canvas = torch.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), pad_value)
    for i in range(n):
        r, q = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        canvas[:, top:top + h, left:left + w] = images[i]
    return to_uint8(canvas)


def png_bytes(img: Image.Image | np.ndarray) -> bytes:
    im = Image.fromarray(img) if isinstance(img, np.ndarray) else img
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def gif_bytes(frames: torch.Tensor, size: int = 168, ms_per_frame: int = 80, bounce: bool = True) -> bytes:
    """(N, C, H, W) frames -> looping animated GIF (forth and back when ``bounce``)."""
    order = list(range(len(frames)))
    if bounce and len(frames) > 2:
        order += order[-2:0:-1]
    pics = [upscale(frames[i], size).convert("P" if frames.shape[1] == 3 else "L") for i in order]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)
    return buf.getvalue()


def latent_scatter(points: np.ndarray, labels: np.ndarray, ids: np.ndarray, classes: tuple[str, ...],
                   axis_titles: tuple[str, str] = ("z0", "z1"), title: str = "") -> go.Figure:
    """WebGL scatter of (N, 2) points, one trace per class; ``customdata`` holds dataset ids."""
    fig = go.Figure()
    for k, raw in enumerate(classes):
        name = html.escape(str(raw))  # class names may come from an uploaded zip's folder names
        sel = labels == k
        if not sel.any():
            continue
        fig.add_trace(go.Scattergl(
            x=points[sel, 0], y=points[sel, 1], mode="markers", name=name, customdata=ids[sel],
            marker={"size": 4, "color": PALETTE[k % len(PALETTE)], "opacity": 0.7},
            hovertemplate="index %{customdata}<br>(%{x:.2f}, %{y:.2f})<extra>" + name + "</extra>",
        ))
    fig.update_layout(title=title or None, xaxis_title=axis_titles[0], yaxis_title=axis_titles[1],
                      height=560, margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
                      legend={"itemsizing": "constant"}, dragmode="zoom")  # lasso/box would disable click-select
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


class SpecFigure(go.Figure):
    """A Plotly figure handed over as a finished spec (``{"data": [...], "layout": {...}}``, e.g.
    one built once and cached): ``to_dict`` returns it as is, so ``st.plotly_chart`` serialises
    it without Plotly's copy and re-validation of every point (~10 ms for 10k points)."""

    def __init__(self, spec: dict) -> None:
        super().__init__()
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec


@functools.cache
def default_template() -> dict:
    """Plotly's default template as a spec (what ``go.Figure().to_dict()`` puts in its layout),
    for figures built as specs directly."""
    return go.Figure().to_dict()["layout"]["template"]


def with_overlays(spec: dict, overlays: Sequence[go.BaseTraceType] = (), **layout: object) -> SpecFigure:
    """``spec`` (never modified: it may be shared) with ``overlays`` drawn on top and ``layout``
    keys replaced, as a :class:`SpecFigure`."""
    data = [*spec["data"], *(t.to_plotly_json() for t in overlays)]
    return SpecFigure({"data": data, "layout": {**spec["layout"], **layout}})


def marker_trace(point: np.ndarray, name: str, symbol: str = "x") -> go.Scatter:
    """One black marker at ``point`` (2,), named in the legend."""
    return go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name=name, hoverinfo="name",
                      marker={"symbol": symbol, "size": 14, "color": "black", "line": {"width": 2, "color": "white"}})
