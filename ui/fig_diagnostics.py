"""Pure figure builders for the Diagnostics page (no Streamlit): KL and activity per latent
dimension, the −ELBO vs IWAE bound gap, the reconstruction-error histogram, the worst
reconstructions' mosaic and the factor-vs-latent correlation heat map."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image

from . import figures

ACTIVE, INACTIVE = figures.PALETTE[0], "#b0b0b0"
MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def _dim_names(d: int) -> list[str]:
    return [f"z{i}" for i in range(d)]


def kl_bars(kl_per_dim: Sequence[float], activity: Sequence[float], threshold: float) -> go.Figure:
    """One bar per latent dimension (D bars): its mean KL(q(z_d|x) || N(0, 1)) in nats, blue when
    the unit is active (``activity`` (D,) above ``threshold``), grey otherwise."""
    kl, act = np.asarray(kl_per_dim, dtype=float), np.asarray(activity, dtype=float)
    if kl.shape != act.shape:
        raise ValueError(f"kl_per_dim {kl.shape} and activity {act.shape} differ in length")
    colours = [ACTIVE if a > threshold else INACTIVE for a in act]
    fig = go.Figure(go.Bar(x=_dim_names(len(kl)), y=kl, marker_color=colours, customdata=act,
                           hovertemplate="%{x}: KL %{y:.3f} nats<br>activity %{customdata:.4f}<extra></extra>"))
    fig.update_layout(title=f"KL per latent dimension ({int((act > threshold).sum())} of {len(kl)} active)",
                      xaxis_title="latent dimension", yaxis_title="mean KL (nats)", height=320, margin=MARGIN,
                      showlegend=False)
    return fig


def activity_bars(activity: Sequence[float], threshold: float) -> go.Figure:
    """One bar per latent dimension (D bars): the activity Cov_x(E_q[z_d|x]) on a log axis, with a
    dashed line at the active-unit ``threshold`` (Burda et al. 2016)."""
    act = np.asarray(activity, dtype=float)
    colours = [ACTIVE if a > threshold else INACTIVE for a in act]
    fig = go.Figure(go.Bar(x=_dim_names(len(act)), y=np.maximum(act, 1e-6), marker_color=colours, customdata=act,
                           hovertemplate="%{x}: activity %{customdata:.4g}<extra></extra>"))
    fig.add_hline(y=threshold, line_dash="dash", line_color="black",
                  annotation_text=f"active above {threshold:g}", annotation_position="top left")
    fig.update_layout(title="Activity per latent dimension", xaxis_title="latent dimension",
                      yaxis_title="variance of the posterior mean", yaxis_type="log", height=320, margin=MARGIN,
                      showlegend=False)
    return fig


def bound_gap(neg_elbo: float, recon: float, kl: float, iwae_nll: float, k: int) -> go.Figure:
    """Two horizontal bars in nats per image: −ELBO stacked as reconstruction + KL, and the IWAE
    estimate of −log p(x) with ``k`` samples; the title gives the gap −ELBO − IWAE."""
    rows = ["−ELBO", f"IWAE −log p(x), k={k}"]
    fig = go.Figure([
        go.Bar(y=rows[:1], x=[recon], orientation="h", name="reconstruction", marker_color=figures.PALETTE[0],
               hovertemplate="reconstruction %{x:.2f} nats<extra></extra>"),
        go.Bar(y=rows[:1], x=[kl], orientation="h", name="KL", marker_color=figures.PALETTE[1],
               hovertemplate="KL %{x:.2f} nats<extra></extra>"),
        go.Bar(y=rows[1:], x=[iwae_nll], orientation="h", name="IWAE bound", marker_color=figures.PALETTE[2],
               hovertemplate="IWAE %{x:.2f} nats<extra></extra>"),
    ])
    fig.add_vline(x=iwae_nll, line_dash="dot", line_color="black")
    fig.update_layout(barmode="stack", title=f"−ELBO {neg_elbo:.2f} vs IWAE {iwae_nll:.2f}: gap "
                      f"{neg_elbo - iwae_nll:.2f} nats per image", xaxis_title="nats per image", height=260,
                      margin=MARGIN, legend={"orientation": "h", "y": -0.35})
    return fig


def error_histogram(errors: np.ndarray, cutoff: float | None = None, bins: int = 60) -> figures.SpecFigure:
    """Histogram of per-image reconstruction errors (N,) in nats; a line at ``cutoff`` (the
    smallest error among the worst images shown) when given. A finished spec: N may be 10,000."""
    e = np.asarray(errors, dtype=np.float64)
    lo, hi = float(e.min()), float(e.max())
    trace = {"type": "histogram", "x": e, "marker": {"color": figures.PALETTE[0]},
             "xbins": {"start": lo, "end": hi, "size": max((hi - lo) / bins, 1e-6)},
             "hovertemplate": "%{x} nats<br>%{y} images<extra></extra>"}
    layout = {"title": {"text": f"Reconstruction error of {len(e)} test images"},
              "xaxis": {"title": {"text": "−log p(x | z) (nats per image)"}}, "yaxis": {"title": {"text": "images"}},
              "height": 300, "bargap": 0.02, "margin": MARGIN, "showlegend": False,
              "template": figures.default_template()}
    if cutoff is not None:
        layout["shapes"] = [{"type": "line", "x0": cutoff, "x1": cutoff, "xref": "x", "y0": 0, "y1": 1,
                             "yref": "paper", "line": {"color": "black", "width": 2, "dash": "dash"}}]
        layout["annotations"] = [{"x": cutoff, "xref": "x", "y": 1, "yref": "paper", "yanchor": "bottom",
                                  "showarrow": False, "text": "worst images shown →", "xanchor": "left"}]
    return figures.SpecFigure({"data": [trace], "layout": layout})


def worst_mosaic(originals: torch.Tensor, recons: torch.Tensor, size: int = 84) -> Image.Image:
    """Two rows of k images, (k, C, H, W) each in [0, 1]: the originals above their
    reconstructions, each upscaled to about ``size`` px (nearest neighbour, no blur)."""
    if originals.shape != recons.shape:
        raise ValueError(f"originals {tuple(originals.shape)} and reconstructions {tuple(recons.shape)} differ")
    mosaic = figures.grid(torch.cat([originals, recons]).clamp(0, 1), ncol=max(len(originals), 1))
    scale = max(1, size // originals.shape[2])
    return figures.upscale(mosaic, max(mosaic.shape[:2]) * scale)


def factor_heatmap(corr: np.ndarray, factor_names: Sequence[str],
                   kl_per_dim: Sequence[float] | None = None) -> go.Figure:
    """Heat map of the (D, K) association |r| (correlation ratio for a categorical factor) between
    latent dimension d (rows) and factor k (columns), from 0 (white) to 1 (dark blue)."""
    c = np.asarray(corr, dtype=float)
    if c.ndim != 2 or c.shape[1] != len(factor_names):
        raise ValueError(f"corr must be (D, {len(factor_names)}), got {c.shape}")
    rows = _dim_names(c.shape[0])
    if kl_per_dim is not None:
        rows = [f"z{d} (KL {kl:.2f})" for d, kl in enumerate(kl_per_dim)]
    fig = go.Figure(go.Heatmap(z=c.tolist(), x=list(factor_names), y=rows, zmin=0.0, zmax=1.0, colorscale="Blues",
                               text=np.round(c, 2).tolist(), texttemplate="%{text}",
                               colorbar={"title": {"text": "|r|"}},
                               hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title="Which latent follows which factor", xaxis_title="factor", height=120 + 40 * len(rows),
                      margin=MARGIN, yaxis={"autorange": "reversed"})
    return fig
