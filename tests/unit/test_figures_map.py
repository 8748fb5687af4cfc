"""Pure builders behind the Latent map page (ui/fig_latent_map.py, ui/figures.py)."""
import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from ui import fig_latent_map as fm
from vae.plane import LatentPlane

CLASSES = ("zero", "one", "two", "three")


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 2)).astype(np.float32)
    labels = rng.integers(0, 3, size=n)  # class "three" never occurs
    ids = rng.permutation(10_000)[:n]
    return points, labels, ids


def test_map_has_one_trace_per_present_class_with_ids_as_customdata():
    points, labels, ids = _data()
    fig = fm.map_figure(points, labels, ids, CLASSES, ("z0", "z1"), "title")
    assert [t.name for t in fig.data] == ["zero", "one", "two"]
    for k, trace in enumerate(fig.data):
        assert isinstance(trace, go.Scattergl)
        np.testing.assert_array_equal(trace.customdata, ids[labels == k])
        np.testing.assert_array_equal(trace.x, points[labels == k, 0])
        np.testing.assert_array_equal(trace.y, points[labels == k, 1])
    shown = np.sort(np.concatenate([t.customdata for t in fig.data]))
    np.testing.assert_array_equal(shown, np.sort(ids))


def test_map_starts_where_a_click_selects_and_carries_grid_box_and_overlays():
    points, labels, ids = _data()
    ring = fm.ellipse_trace(np.zeros(2), np.eye(2))
    fig = fm.map_figure(points, labels, ids, CLASSES, ("PC1", "PC2"), "t", grid_box=(-1, 2, -3, 4), overlays=[ring])
    # Streamlit disables click-to-select while the drag mode is box/lasso.
    assert fig.layout.dragmode not in ("select", "lasso")
    assert "select" in fig.layout.clickmode
    (rect,) = fig.layout.shapes
    assert (rect.x0, rect.x1, rect.y0, rect.y1) == (-1, 2, -3, 4)
    assert fig.data[-1] is not None and fig.data[-1].name == ring.name
    assert fig.layout.xaxis.title.text == "PC1" and fig.layout.yaxis.title.text == "PC2"


def _rot(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


@pytest.mark.parametrize("k", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("cov", [np.diag([0.25, 0.04]), _rot(0.6) @ np.diag([2.0, 0.1]) @ _rot(0.6).T,
                                 np.array([[1.0, 0.0], [0.0, 1.0]])])
def test_ellipse_is_the_k_sigma_contour(cov, k):
    mean = np.array([0.5, -1.0])
    tr = fm.ellipse_trace(mean, cov, k=k)
    d = np.stack([np.asarray(tr.x), np.asarray(tr.y)], axis=1) - mean
    mahal = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    np.testing.assert_allclose(mahal, k ** 2, rtol=1e-9)
    # a closed curve around the mean: the sampled points (less the repeated last one) average to it
    np.testing.assert_allclose(d[:-1].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(d[0], d[-1], atol=1e-12)
    # it reaches k sigma along each coordinate axis: max |x - mx| = k sqrt(cov_xx)
    np.testing.assert_allclose(np.abs(d).max(axis=0), k * np.sqrt(np.diag(cov)), rtol=2e-3)


def test_ellipse_of_a_diagonal_covariance_spans_mean_plus_minus_k_sigma():
    mean, std = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    tr = fm.ellipse_trace(mean, np.diag(std ** 2))
    x, y = np.asarray(tr.x), np.asarray(tr.y)
    assert x.min() == pytest.approx(mean[0] - 2 * std[0]) and x.max() == pytest.approx(mean[0] + 2 * std[0])
    assert y.min() == pytest.approx(mean[1] - 2 * std[1], abs=1e-3)
    assert y.max() == pytest.approx(mean[1] + 2 * std[1], abs=1e-3)
    # The long axis of a rotated one points along its first direction, 2 * sqrt(2) from the mean.
    cov = _rot(0.6) @ np.diag([2.0, 0.1]) @ _rot(0.6).T
    tr = fm.ellipse_trace(mean, cov)
    d = np.stack([np.asarray(tr.x), np.asarray(tr.y)], axis=1) - mean
    assert np.abs(d @ _rot(0.6)[:, 0]).max() == pytest.approx(2 * np.sqrt(2.0), rel=1e-3)


def test_posterior_overlays_name_the_ring_and_mark_the_mean():
    point, cov = np.array([0.2, 0.3]), np.diag([0.01, 0.04])
    ring, marker = fm.posterior_overlays(point, cov, "your image", projected=False)
    assert ring.name == "posterior ±2σ" and marker.name == "your image"
    assert (marker.x, marker.y) == ((0.2,), (0.3,))
    ring, _ = fm.posterior_overlays(point, cov, "#7", projected=True)
    assert ring.name == "posterior ±2σ (projected)"


def test_focus_text_gives_mu_and_sigma_on_the_latent_plane_and_says_projected_on_pca():
    two_d = LatentPlane.fit(torch.randn(50, 2, generator=torch.Generator().manual_seed(0)))
    text = fm.focus_text("#3", np.array([0.5, -1.0]), np.diag([0.09, 0.16]), two_d)
    assert text == "Ellipse: posterior of #3, μ = (0.50, -1.00), σ = (0.30, 0.40)."
    pca = LatentPlane.fit(torch.randn(50, 6, generator=torch.Generator().manual_seed(0)))
    assert "projected onto the PCA plane" in fm.focus_text("#3", np.zeros(2), np.eye(2), pca)
    assert "6-D Gaussian" in fm.focus_text("#3", np.zeros(2), np.eye(2), pca)


def test_selected_ids_reads_customdata_in_order_once_each():
    event = {"selection": {"points": [
        {"customdata": 17, "curve_number": 2}, {"customdata": [5], "curve_number": 0},
        {"curve_number": 11, "x": 0.0},  # an overlay marker: no customdata
        {"customdata": 17.0}, {"customdata": "oops"}, {"customdata": []}, {"customdata": 3},
    ], "point_indices": [], "box": [], "lasso": []}}
    assert fm.selected_ids(event) == [17, 5, 3]
    assert fm.selected_ids(None) == []
    assert fm.selected_ids({"selection": {"points": [], "point_indices": [], "box": [], "lasso": []}}) == []


def test_positions_of_maps_official_ids_to_loaded_positions():
    all_ids = np.array([40, 7, 93, 12, 5])  # e.g. a shuffled subset of the official split
    np.testing.assert_array_equal(fm.positions_of([12, 40, 5], all_ids), [3, 0, 4])
    np.testing.assert_array_equal(fm.positions_of([999, 7, -1], all_ids), [1])  # unknown ids dropped
    assert fm.positions_of([], all_ids).shape == (0,)
    assert fm.positions_of([1], np.array([], dtype=np.int64)).shape == (0,)


def test_explained_text_names_each_axis_and_the_total():
    text = fm.explained_text([0.412, 0.18])
    assert "PC1 41.2%" in text and "PC2 18.0%" in text and "59.2% together" in text


def test_class_names_from_uploads_are_escaped_in_the_chart():
    from ui import figures

    evil = '<img src=x onerror="alert(1)">'
    fig = figures.latent_scatter(np.zeros((2, 2)), np.array([0, 1]), np.array([5, 6]), ("ok", evil))
    trace = fig.data[1]
    assert "<img" not in trace.name and "<img" not in trace.hovertemplate
    assert "&lt;img" in trace.name


def test_shared_map_spec_gets_overlays_without_being_changed():
    from ui import figures
    points, labels, ids = _data()
    spec = fm.map_spec(points, labels, ids, CLASSES, ("z0", "z1"), grid_box=(-1, 1, -1, 1))
    n_traces = len(spec["data"])
    marker = figures.marker_trace(np.array([0.5, -0.5]), "pinned", symbol="star")
    fig = go.Figure(figures.with_overlays(spec, [marker], dragmode="pan").to_dict())  # valid for Plotly
    assert len(fig.data) == n_traces + 1 and fig.data[-1].name == "pinned"
    assert fig.layout.dragmode == "pan" and fig.layout.shapes[0].x0 == -1
    assert len(spec["data"]) == n_traces and spec["layout"]["dragmode"] == "zoom"  # the shared spec is intact
