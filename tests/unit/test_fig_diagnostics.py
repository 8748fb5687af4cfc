"""The Diagnostics page's pure figure builders: one bar per latent, the heat map's shape, the
histogram and the worst-images mosaic."""
import json

import numpy as np
import plotly.io as pio
import pytest
import torch

from ui import fig_diagnostics as fd
from ui.fig_diagnostics import ACTIVE, INACTIVE


def _spec(fig) -> dict:
    return json.loads(pio.to_json(fig)) if not isinstance(fig, fd.figures.SpecFigure) else fig.to_dict()


def test_kl_bars_one_bar_per_dimension_coloured_by_activity():
    kl, act = [1.5, 0.001, 2.0, 0.0, 0.3], [0.9, 0.0001, 1.0, 0.0, 0.02]
    bar = _spec(fd.kl_bars(kl, act, threshold=0.01))["data"][0]
    assert bar["type"] == "bar" and bar["x"] == ["z0", "z1", "z2", "z3", "z4"]
    assert bar["marker"]["color"] == [ACTIVE, INACTIVE, ACTIVE, INACTIVE, ACTIVE]
    assert "3 of 5 active" in _spec(fd.kl_bars(kl, act, 0.01))["layout"]["title"]["text"]
    with pytest.raises(ValueError, match="differ in length"):
        fd.kl_bars(kl, act[:3], 0.01)


def test_activity_bars_log_axis_and_threshold_line():
    spec = _spec(fd.activity_bars([0.5, 0.0, 0.001], threshold=0.01))
    assert len(spec["data"][0]["x"]) == 3
    assert spec["layout"]["yaxis"]["type"] == "log"
    assert [s["y0"] for s in spec["layout"]["shapes"]] == [0.01]


def test_bound_gap_stacks_the_elbo_and_names_the_gap():
    spec = _spec(fd.bound_gap(neg_elbo=32.0, recon=25.0, kl=7.0, iwae_nll=30.5, k=100))
    assert spec["layout"]["barmode"] == "stack"
    assert [t["name"] for t in spec["data"]] == ["reconstruction", "KL", "IWAE bound"]
    assert "gap 1.50 nats" in spec["layout"]["title"]["text"]


def test_error_histogram_counts_every_image_and_marks_the_cutoff():
    errors = np.random.default_rng(0).gamma(5.0, 5.0, size=1000)
    spec = fd.error_histogram(errors, cutoff=60.0).to_dict()
    trace = spec["data"][0]
    assert trace["type"] == "histogram" and len(trace["x"]) == 1000
    assert trace["xbins"]["start"] == errors.min() and trace["xbins"]["end"] == errors.max()
    assert spec["layout"]["shapes"][0]["x0"] == 60.0
    assert "1000 test images" in spec["layout"]["title"]["text"]
    assert "shapes" not in fd.error_histogram(errors).to_dict()["layout"]


def test_factor_heatmap_is_latents_by_factors():
    corr = np.random.default_rng(1).uniform(size=(7, 5))
    names = ("shape", "scale", "rotation", "x", "y")
    heat = _spec(fd.factor_heatmap(corr, names, kl_per_dim=[1.0] * 7))["data"][0]
    assert heat["type"] == "heatmap"
    assert np.array(heat["z"]).shape == (7, 5) and heat["x"] == list(names)
    assert heat["y"][0] == "z0 (KL 1.00)" and len(heat["y"]) == 7
    assert (heat["zmin"], heat["zmax"]) == (0.0, 1.0)
    with pytest.raises(ValueError, match="corr must be"):
        fd.factor_heatmap(corr, names[:3])


def test_worst_mosaic_puts_originals_above_reconstructions():
    g = torch.Generator().manual_seed(0)
    white, black = torch.ones(8, 1, 28, 28), torch.zeros(8, 1, 28, 28)
    img = np.asarray(fd.worst_mosaic(white, black, size=84))
    assert img.shape[1] > 3 * img.shape[0]  # eight columns, two rows
    top, bottom = img[: img.shape[0] // 2], img[img.shape[0] // 2:]
    assert top.mean() > 150 and bottom.mean() < 100
    with pytest.raises(ValueError, match="differ"):
        fd.worst_mosaic(torch.rand(8, 1, 28, 28, generator=g), torch.rand(7, 1, 28, 28, generator=g))
