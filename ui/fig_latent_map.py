"""Pure builders for the Latent map page: the scatter with its overlays, and the link from a
Plotly selection back to dataset images. No Streamlit here."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

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


def cov_ellipse_trace(mean: np.ndarray, cov: np.ndarray, k: float = 2.0,
                      name: str = "posterior ±2σ (projected)") -> go.Scatter:
    """Contour at k standard deviations of a 2-D Gaussian with full (2, 2) covariance ``cov``.

    Points mean + k * V sqrt(L) (cos t, sin t), from the eigen-decomposition cov = V L V^T.
    """
    evals, evecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    t = np.linspace(0, 2 * np.pi, 73)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, 73)
    radii = np.sqrt(np.clip(evals, 0, None))[:, None]
    pts = np.asarray(mean, dtype=np.float64).reshape(2, 1) + k * evecs @ (radii * circle)
    return go.Scatter(x=pts[0], y=pts[1], mode="lines", name=name, line={"color": "black", "width": 2},
                      hoverinfo="skip")


def map_figure(points: np.ndarray, labels: np.ndarray, ids: np.ndarray, classes: tuple[str, ...],
               axis_titles: tuple[str, str], title: str, grid_box: tuple[float, float, float, float] | None = None,
               overlays: Sequence[go.Scatter] = ()) -> go.Figure:
    """The latent map: :func:`figures.latent_scatter` of (N, 2) ``points`` plus a dashed
    rectangle (x0, x1, y0, y1) showing the area the manifold grid covers and ``overlays``
    (e.g. a posterior ellipse) drawn on top. Starts in zoom mode, where a click selects a point."""
    fig = figures.latent_scatter(points, labels, ids, classes, axis_titles=axis_titles, title=title)
    if grid_box is not None:
        x0, x1, y0, y1 = grid_box
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line={"color": "gray", "dash": "dash", "width": 1},
                      name="manifold grid area")
    for trace in overlays:
        fig.add_trace(trace)
    # Streamlit turns click-to-select off while the drag mode is box or lasso, so start in zoom
    # mode: a click selects a point, a drag zooms, the toolbar switches to box or lasso select.
    fig.update_layout(uirevision="latent-map", clickmode="event+select", dragmode="zoom")
    return fig


def explained_text(explained: Sequence[float]) -> str:
    """'PC1 explains 41.2% of the variance of the codes, PC2 18.0% (59.2% together).'"""
    ratios = [100.0 * float(v) for v in explained]
    parts = [f"PC{i + 1} {r:.1f}%" for i, r in enumerate(ratios)]
    return (f"Explained variance of the latent means: {', '.join(parts)} "
            f"({sum(ratios):.1f}% together); the rest lies off this plane.")
