"""ui.fig_live: the data the live component gets (pure builders)."""
import numpy as np
import torch

from ui import fig_live
from ui.figures import PALETTE


def test_slider_dims_follow_the_order_shown():
    dims = fig_live.slider_dims([2, 0, 1], [0.5, 0.25, 3.0])
    assert dims == [{"dim": 2, "label": "z2", "note": "KL 3.00"}, {"dim": 0, "label": "z0", "note": "KL 0.50"},
                    {"dim": 1, "label": "z1", "note": "KL 0.25"}]


def test_clip_shown_keeps_the_held_dims():
    z = np.array([5.0, -7.0, 9.0])
    assert fig_live.clip_shown(z, [0, 1], 3.0).tolist() == [3.0, -3.0, 9.0]
    assert z.tolist() == [5.0, -7.0, 9.0]


def test_pad_points_subsample_is_repeatable_and_keeps_labels():
    rng = np.random.default_rng(0)
    points, labels = rng.normal(size=(5000, 2)), rng.integers(0, 10, 5000)
    a = fig_live.pad_points(points, labels, 300, torch.Generator().manual_seed(0))
    b = fig_live.pad_points(points, labels, 300, torch.Generator().manual_seed(0))
    assert a == b and len(a["x"]) == len(a["y"]) == len(a["c"]) == 300
    lookup = {(round(x, 3), round(y, 3)): int(c) for (x, y), c in zip(points, labels)}
    assert all(lookup[(x, y)] == c for x, y, c in zip(a["x"], a["y"], a["c"]))
    small = fig_live.pad_points(points[:50], labels[:50], 300, torch.Generator().manual_seed(0))
    assert len(small["x"]) == 50


def test_pad_extent_is_square_and_covers_the_cloud_and_the_box():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(4000, 2)) * [1.0, 2.0] + [3.0, 0.0]
    x0, x1, y0, y1 = fig_live.pad_extent(points, include=(-1.0, 1.0, -1.0, 1.0))
    assert abs((x1 - x0) - (y1 - y0)) < 1e-9
    assert x0 < -1.0 and x1 > np.percentile(points[:, 0], 99.5) and y0 < np.percentile(points[:, 1], 0.5)
    inside = (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
    assert inside.mean() > 0.99


def test_pad_payload_bundles_points_palette_and_an_id_that_follows_them():
    rng = np.random.default_rng(2)
    points, labels = rng.normal(size=(100, 2)), rng.integers(0, 3, 100)
    a = fig_live.pad_payload(points, labels, torch.Generator().manual_seed(0), ("z0", "z1"), box=(-1, 1, -1, 1))
    assert a["palette"] == list(PALETTE) and a["axes"] == ["z0", "z1"] and a["box"] == [-1.0, 1.0, -1.0, 1.0]
    again = fig_live.pad_payload(points, labels, torch.Generator().manual_seed(0), ("z0", "z1"), box=(-1, 1, -1, 1))
    moved = fig_live.pad_payload(points + 1, labels, torch.Generator().manual_seed(0), ("z0", "z1"))
    assert a["points_id"] == again["points_id"] != moved["points_id"]
