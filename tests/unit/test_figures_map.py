"""Pure builders behind the Latent map page (ui/fig_latent_map.py, ui/figures.py)."""
import numpy as np
import plotly.graph_objects as go
import pytest

from ui import fig_latent_map as fm
from ui import figures

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
    ring = figures.ellipse_trace(np.zeros(2), np.ones(2))
    fig = fm.map_figure(points, labels, ids, CLASSES, ("PC1", "PC2"), "t", grid_box=(-1, 2, -3, 4), overlays=[ring])
    # Streamlit disables click-to-select while the drag mode is box/lasso.
    assert fig.layout.dragmode not in ("select", "lasso")
    assert "select" in fig.layout.clickmode
    (rect,) = fig.layout.shapes
    assert (rect.x0, rect.x1, rect.y0, rect.y1) == (-1, 2, -3, 4)
    assert fig.data[-1] is not None and fig.data[-1].name == ring.name
    assert fig.layout.xaxis.title.text == "PC1" and fig.layout.yaxis.title.text == "PC2"


def test_axis_aligned_ellipse_spans_mean_plus_minus_two_sigma():
    mean, std = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    tr = figures.ellipse_trace(mean, std)
    x, y = np.asarray(tr.x), np.asarray(tr.y)
    assert x.min() == pytest.approx(mean[0] - 2 * std[0]) and x.max() == pytest.approx(mean[0] + 2 * std[0])
    assert y.min() == pytest.approx(mean[1] - 2 * std[1], abs=1e-3)
    assert y.max() == pytest.approx(mean[1] + 2 * std[1], abs=1e-3)
    np.testing.assert_allclose(((x - mean[0]) / std[0]) ** 2 + ((y - mean[1]) / std[1]) ** 2, 4.0, rtol=1e-9)


def test_full_covariance_ellipse_is_the_two_sigma_contour():
    mean = np.array([0.5, -1.0])
    rot = np.array([[np.cos(0.6), -np.sin(0.6)], [np.sin(0.6), np.cos(0.6)]])
    cov = rot @ np.diag([2.0, 0.1]) @ rot.T
    tr = fm.cov_ellipse_trace(mean, cov, k=2.0)
    d = np.stack([np.asarray(tr.x), np.asarray(tr.y)], axis=1) - mean
    mahal = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    np.testing.assert_allclose(mahal, 4.0, rtol=1e-9)
    # The long axis points along the first rotated direction, 2 * sqrt(2) from the mean.
    assert np.abs(d @ rot[:, 0]).max() == pytest.approx(2 * np.sqrt(2.0), rel=1e-3)
    # A diagonal covariance gives the same curve as the axis-aligned builder.
    diag = fm.cov_ellipse_trace(mean, np.diag([0.25, 0.04]))
    aligned = figures.ellipse_trace(mean, np.array([0.5, 0.2]))
    assert max(np.abs(diag.x)) == pytest.approx(max(np.abs(aligned.x)))
    assert max(np.abs(diag.y)) == pytest.approx(max(np.abs(aligned.y)), abs=1e-3)


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
