"""Compare's pure builders: two models' numbers in, Plotly figures and a sentence out.

No Streamlit here. A model's test-set numbers travel as :class:`ModelNumbers`; a dimension is
"switched off" when its mean KL on the test set is below :data:`OFF_NATS` (0.01 nats, the
threshold :mod:`vae.metrics` applies to a unit's activity, Burda et al. 2016): its posterior is
the prior for every image, so the decoder gets nothing through it (posterior collapse).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from vae.metrics import ACTIVE_THRESHOLD

from .figures import PALETTE

OFF_NATS = ACTIVE_THRESHOLD  # a dimension with mean KL below this (nats) counts as switched off
OFF_COLOUR = "#c7c7c7"
SIDE_COLOURS = (PALETTE[0], PALETTE[1])
SAME_NATS = 0.5  # differences below this many nats per image are "about the same"
SAME_ENTROPY = 0.005  # ... and below this many nats per pixel


@dataclass(frozen=True)
class ModelNumbers:
    """One model's test-set numbers, nats per image: ``kl_per_dim`` has one entry per latent
    dimension (D,); ``source`` says where they come from (metrics.json or computed)."""

    name: str
    latent_dim: int
    beta: float
    neg_elbo: float
    recon: float
    kl: float
    kl_per_dim: tuple[float, ...]
    source: str = ""

    @property
    def off(self) -> list[int]:
        """Dimensions switched off (mean KL < :data:`OFF_NATS`), in index order."""
        return [d for d, v in enumerate(self.kl_per_dim) if v < OFF_NATS]

    @property
    def active(self) -> int:
        return len(self.kl_per_dim) - len(self.off)

    @property
    def title(self) -> str:
        """``name (β = 4, 10-D)``; the name escaped for Plotly's HTML-like labels."""
        return f"{html.escape(self.name)} (β = {self.beta:g}, {self.latent_dim}-D)"


def pixel_entropy(images: torch.Tensor) -> float:
    """Mean binary entropy of the pixels of (N, C, H, W) images in [0, 1], nats per pixel:
    H(p) = −p ln p − (1−p) ln(1−p) (Shannon), 0 for pure black or white, ln 2 ≈ 0.693 for mid-grey.
    Decoded means that hedge between strokes and background are greyer: a blur measure."""
    p = torch.as_tensor(images, dtype=torch.float64).clamp(0, 1)
    if p.numel() == 0:
        return 0.0
    h = -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))
    return float(h.mean())


def _kl_trace(n: ModelNumbers, side: int) -> go.Bar:
    """One model's KL per dimension, most used first, switched-off dimensions grey and labelled."""
    order = sorted(range(len(n.kl_per_dim)), key=lambda d: -n.kl_per_dim[d])
    values = [n.kl_per_dim[d] for d in order]
    off = [v < OFF_NATS for v in values]
    return go.Bar(
        x=[f"z{d}" for d in order], y=values, name=n.title, showlegend=False,
        marker={"color": [OFF_COLOUR if o else SIDE_COLOURS[side] for o in off]},
        text=["off" if o else "" for o in off], textposition="outside",
        customdata=["switched off" if o else "active" for o in off],
        hovertemplate="%{x}: KL %{y:.3f} nats (%{customdata})<extra>" + n.title + "</extra>")


def kl_bars(a: ModelNumbers, b: ModelNumbers) -> go.Figure:
    """Two panels side by side, one per model: mean KL per latent dimension (nats), sorted from
    most to least used; dimensions below :data:`OFF_NATS` grey and labelled "off". The y axis is
    shared, so the panels compare directly."""
    titles = tuple(f"{html.escape(n.name)}<br>β = {n.beta:g}: {n.active} of {n.latent_dim} active" for n in (a, b))
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=titles, horizontal_spacing=0.06)
    for side, n in enumerate((a, b)):
        fig.add_trace(_kl_trace(n, side), row=1, col=side + 1)
        fig.update_xaxes(title_text="latent dimension (most used first)", row=1, col=side + 1)
    top = max([*a.kl_per_dim, *b.kl_per_dim, OFF_NATS])
    fig.update_yaxes(title_text="KL per dimension (nats)", range=[0, top * 1.15], row=1, col=1)
    fig.update_layout(height=400, margin={"l": 10, "r": 10, "t": 70, "b": 10}, bargap=0.15)
    return fig


def elbo_bars(a: ModelNumbers, b: ModelNumbers) -> go.Figure:
    """Grouped bars: −ELBO = reconstruction + KL (nats per test image) for both models."""
    parts = ("−ELBO", "reconstruction", "KL")
    fig = go.Figure()
    for side, n in enumerate((a, b)):
        values = (n.neg_elbo, n.recon, n.kl)
        fig.add_trace(go.Bar(x=list(parts), y=list(values), name=n.title, marker_color=SIDE_COLOURS[side],
                             text=[f"{v:.1f}" for v in values], textposition="outside",
                             hovertemplate="%{x}: %{y:.2f} nats<extra>" + n.title + "</extra>"))
    top = max(a.neg_elbo, b.neg_elbo, a.recon, b.recon, 1.0)
    fig.update_layout(barmode="group", height=400, yaxis_title="nats per test image (lower is better)",
                      yaxis_range=[0, top * 1.15], margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.12})
    return fig


def _dims_clause(n: ModelNumbers) -> str:
    off, d = len(n.off), n.latent_dim
    who = f"{n.name} (β = {n.beta:g}, {d}-D)"
    if off == 0:
        return f"{who} uses " + {1: "its one dimension", 2: "both its dimensions"}.get(d, f"all {d} of its dimensions")
    if off == d:
        return f"{who} switched off all {d} of its dimensions"
    return f"{who} switched off {off} of its {d} dimensions"


def _compare(label: str, va: float, vb: float, a: str, b: str, lower: str) -> str:
    """"<the model with the lower value> <lower> (label x vs y nats)", or that both are about
    the same (within :data:`SAME_NATS`)."""
    if abs(va - vb) < SAME_NATS:
        return f"both have about the same {label} ({va:.1f} vs {vb:.1f} nats)"
    first, second = (a, b) if va < vb else (b, a)
    return f"{first} {lower} ({label} {min(va, vb):.1f} vs {second}'s {max(va, vb):.1f} nats)"


def differ_sentence(a: ModelNumbers, b: ModelNumbers, grey_a: float | None = None,
                    grey_b: float | None = None) -> str:
    """What differs between the two models, from their numbers only: dimensions switched off,
    reconstruction, KL and −ELBO on the test set, and (given :func:`pixel_entropy` of their
    same-seed prior samples, ``grey_a``/``grey_b``) which samples are blurrier."""
    recon = _compare("recon", a.recon, b.recon, a.name, b.name, "reconstructs more faithfully")
    kl = _compare("KL", a.kl, b.kl, a.name, b.name, "stores less about each image in z")
    total = _compare("−ELBO", a.neg_elbo, b.neg_elbo, a.name, b.name, "explains the test images better overall")
    parts = [f"{_dims_clause(a)}; {_dims_clause(b)}.", f"On the test set {recon}; {kl}; {total}."]
    if grey_a is not None and grey_b is not None:
        if abs(grey_a - grey_b) < SAME_ENTROPY:
            parts.append(f"Their prior samples are about equally sharp (mean pixel entropy {grey_a:.3f} vs "
                         f"{grey_b:.3f} nats).")
        else:
            blur, sharp = (a.name, b.name) if grey_a > grey_b else (b.name, a.name)
            parts.append(f"{blur}'s prior samples are blurrier than {sharp}'s (mean pixel entropy "
                         f"{max(grey_a, grey_b):.3f} vs {min(grey_a, grey_b):.3f} nats: more grey between "
                         "stroke and background).")
    return " ".join(parts)
