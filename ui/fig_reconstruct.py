"""Pure figure builders for the Reconstruct page (no Streamlit): step thumbnails and the
histogram of the test images' scores (anomaly score or -ELBO) with the image's score marked."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from . import figures


def step_image(arr: np.ndarray, size: int = 140) -> Image.Image:
    """(H, W) or (H, W, 3) uint8 -> an image about ``size`` px on its longer side: small
    images are upscaled with nearest neighbour (pixels stay visible), large ones shrunk."""
    h, w = arr.shape[:2]
    if max(h, w) <= size:
        return figures.upscale(arr, size)
    s = size / max(h, w)
    return Image.fromarray(arr).resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)


def elbo_histogram(reference: np.ndarray, value: float, percentile: float, bins: int = 60) -> go.Figure:
    """Histogram of the reference (N,) -ELBOs with a vertical line at the image's ``value``
    (:func:`score_histogram` with the -ELBO's titles)."""
    return score_histogram(reference, value, percentile, what="-ELBO", bins=bins)


def score_histogram(reference: np.ndarray, value: float, percentile: float, what: str = "anomaly score",
                    bins: int = 60) -> go.Figure:
    """Histogram of the test images' (N,) scores (``what``, in nats) with a vertical line at the
    image's ``value``.

    The x-axis stretches to include ``value`` even when it lies far outside the test set. Built
    as a finished spec (:class:`ui.figures.SpecFigure`): Plotly's own builders cost more than
    the rest of a Reconstruct run."""
    ref = np.asarray(reference, dtype=np.float64)
    lo, hi = float(min(ref.min(), value)), float(max(ref.max(), value))
    trace = {"type": "histogram", "x": ref, "name": "test images", "marker": {"color": figures.PALETTE[0]},
             "xbins": {"start": lo, "end": hi, "size": max((hi - lo) / bins, 1e-6)},
             "hovertemplate": f"{what} %{{x}}<br>%{{y}} images<extra></extra>"}
    line = {"type": "line", "x0": value, "x1": value, "xref": "x", "y0": 0, "y1": 1, "yref": "paper",
            "line": {"color": "black", "width": 3}}
    note = {"x": value, "xref": "x", "y": 1, "yref": "paper", "yanchor": "bottom", "showarrow": False,
            "text": f"your image: {value:.1f} nats ({percentile:.1f} percentile)"}
    layout = {"xaxis": {"title": {"text": f"{what} (nats per image)"}}, "yaxis": {"title": {"text": "test images"}},
              "height": 300, "bargap": 0.02, "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "showlegend": False,
              "shapes": [line], "annotations": [note], "template": figures.default_template()}
    return figures.SpecFigure({"data": [trace], "layout": layout})
