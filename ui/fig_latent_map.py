"""Pure builders for the Latent map (also drawn on the Reconstruct page): the scatter with its
overlays (posterior ellipses from :class:`vae.plane.LatentPlane`), their captions, and the link
from a Plotly selection back to dataset images. No Streamlit here."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from vae.plane import LatentPlane

from . import figures


def selected_ids(event: Mapping[str, Any] | None) -> list[int]:
    """Dataset ids (the points' ``customdata``) of a Plotly selection event, in order, once each.

    ``event`` is what ``st.plotly_chart(on_select=...)`` returns: ``{"selection": {"points":
    [{"customdata": 7, ...}, ...], ...}}``. Points without customdata (overlays) are skipped;
    customdata given as a list uses its first entry.
    """
    points = ((event or {}).get("selection") or {}).get("points") or []
    ids: list[int] = []
    for point in points:
        value = point.get("customdata")
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is None:
            continue
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return list(dict.fromkeys(ids))


def positions_of(ids: Sequence[int], all_ids: np.ndarray) -> np.ndarray:
    """Positions in the loaded set (whose official ids are ``all_ids``, (N,)) of ``ids``, in the
    order given; ids not in the set are dropped. Returns (M,) int64."""
    all_ids = np.asarray(all_ids).astype(np.int64).reshape(-1)
    wanted = np.asarray(list(ids), dtype=np.int64)
    if wanted.size == 0 or all_ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(all_ids, kind="stable")
    where = np.clip(np.searchsorted(all_ids[order], wanted), 0, all_ids.size - 1)
    found = all_ids[order][where] == wanted
    return order[where[found]].astype(np.int64)


def ellipse_trace(mean: np.ndarray, cov: np.ndarray, k: float = 2.0, name: str = "posterior ±2σ") -> go.Scatter:
    """The contour at k standard deviations of a 2-D Gaussian N(``mean`` (2,), ``cov`` (2, 2)) as a
    line trace: the points p with (p - mean)^T cov^-1 (p - mean) = k^2, drawn as
    mean + k V sqrt(L) (cos t, sin t) from the eigen-decomposition cov = V L V^T."""
    evals, evecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    t = np.linspace(0, 2 * np.pi, 73)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, 73)
    radii = np.sqrt(np.clip(evals, 0, None))[:, None]
    pts = np.asarray(mean, dtype=np.float64).reshape(2, 1) + k * evecs @ (radii * circle)
    return go.Scatter(x=pts[0], y=pts[1], mode="lines", name=name, line={"color": "black", "width": 2},
                      hoverinfo="skip")


def posterior_overlays(point: np.ndarray, cov: np.ndarray, name: str, projected: bool) -> list[go.Scatter]:
    """A posterior seen on the map, as :meth:`vae.plane.LatentPlane.project` gives it (``point``
    (2,), ``cov`` (2, 2)): its ±2σ ellipse ("posterior ±2σ", plus " (projected)" on a PCA plane)
    and a marker named ``name``."""
    ring = ellipse_trace(point, cov, name="posterior ±2σ (projected)" if projected else "posterior ±2σ")
    return [ring, figures.marker_trace(np.asarray(point), name)]


def focus_text(name: str, point: np.ndarray, cov: np.ndarray, plane: LatentPlane) -> str:
    """The caption under a selection, for the posterior of image ``name`` seen on ``plane``."""
    if plane.is_pca:
        return (f"Ellipse: posterior of {name} projected onto the PCA plane (μ ± 2σ of its "
                f"{plane.latent_dim}-D Gaussian seen along PC1 and PC2).")
    (m0, m1), (s0, s1) = np.asarray(point), np.sqrt(np.diag(cov))
    return f"Ellipse: posterior of {name}, μ = ({m0:.2f}, {m1:.2f}), σ = ({s0:.2f}, {s1:.2f})."


def manifold_text(plane: LatentPlane, values: np.ndarray) -> str:
    """Markdown saying where the manifold grid was decoded; ``values`` (n, 2) from
    :meth:`vae.plane.LatentPlane.grid`."""
    (a0, b0), (a1, b1) = np.asarray(values)[0], np.asarray(values)[-1]
    if not plane.is_pca:
        return (f"Decoded at $z = (z_0, z_1)$ with both coordinates spaced by $\\Phi^{{-1}}$ from {a0:.2f} "
                f"to {a1:.2f}: the latent space itself, the dashed box on the map.")
    return ("Decoded on the **PCA plane** of the map: $z = \\bar z + a\\,\\mathrm{PC1} + b\\,\\mathrm{PC2}$, "
            f"with $a$ from {a0:.2f} to {a1:.2f} and $b$ from {b0:.2f} to {b1:.2f} ($\\Phi^{{-1}}$ spacing "
            "scaled to the spread of the projected codes): the dashed box on the map. Directions off the plane "
            "stay at the mean code.")


def map_figure(points: np.ndarray, labels: np.ndarray, ids: np.ndarray, classes: tuple[str, ...],
               axis_titles: tuple[str, str], title: str, grid_box: tuple[float, float, float, float] | None = None,
               overlays: Sequence[go.Scatter] = (), uirevision: str = "latent-map") -> go.Figure:
    """The latent map: :func:`figures.latent_scatter` of (N, 2) ``points`` plus a dashed
    rectangle (x0, x1, y0, y1) showing the area the manifold grid covers and ``overlays``
    (e.g. a posterior ellipse) drawn on top. Starts in zoom mode, where a click selects a point.
    ``uirevision``: Plotly keeps the zoom while it stays the same (another for another projection)."""
    fig = figures.latent_scatter(points, labels, ids, classes, axis_titles=axis_titles, title=title)
    if grid_box is not None:
        x0, x1, y0, y1 = grid_box
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line={"color": "gray", "dash": "dash", "width": 1},
                      name="manifold grid area")
    for trace in overlays:
        fig.add_trace(trace)
    # Streamlit turns click-to-select off while the drag mode is box or lasso, so start in zoom
    # mode: a click selects a point, a drag zooms, the toolbar switches to box or lasso select.
    fig.update_layout(uirevision=uirevision, clickmode="event+select", dragmode="zoom")
    return fig


def map_spec(points: np.ndarray, labels: np.ndarray, ids: np.ndarray, classes: tuple[str, ...],
             axis_titles: tuple[str, str], grid_box: tuple[float, float, float, float] | None = None,
             uirevision: str = "latent-map") -> dict:
    """:func:`map_figure` without overlays as a plain spec dict, to build once per model and
    share: draw it with :func:`figures.with_overlays`."""
    return map_figure(points, labels, ids, classes, axis_titles, "", grid_box=grid_box, uirevision=uirevision).to_dict()


def explained_text(explained: Sequence[float]) -> str:
    """'PC1 explains 41.2% of the variance of the codes, PC2 18.0% (59.2% together).'"""
    ratios = [100.0 * float(v) for v in explained]
    parts = [f"PC{i + 1} {r:.1f}%" for i, r in enumerate(ratios)]
    return (f"Explained variance of the latent means: {', '.join(parts)} "
            f"({sum(ratios):.1f}% together); the rest lies off this plane.")


TSNE_AXES = ("t-SNE 1", "t-SNE 2")


def tsne_title(latent_dim: int, n: int, what: str = "test images") -> str:
    """'t-SNE map of the 20-D latent means of 10,000 test images'."""
    return f"t-SNE map of the {latent_dim}-D latent means of {n:,} {what}"


def tsne_caption(perplexity: float) -> str:
    """What a t-SNE map shows and what it does not (van der Maaten & Hinton 2008)."""
    return (f"t-SNE (perplexity {perplexity:g}) keeps each code's nearest neighbours near it: clusters are real, "
            "but the distances between clusters, their sizes and the axes mean nothing, and no point of this map "
            "stands for a code z (t-SNE has no inverse). Computed once per model and kept on disk.")


def tsne_focus_text(name: str) -> str:
    """The caption under a selection on the t-SNE map (no posterior ellipse there)."""
    return (f"Marker: {name} on the t-SNE map. No posterior ellipse here: t-SNE places points, not regions, "
            "so μ ± 2σ has no shape on this map; switch the projection to PCA to see it.")
