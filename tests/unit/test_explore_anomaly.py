"""The Reconstruct page's library parts: ELBO terms, batched test-set -ELBO, the percentile
rank behind the anomaly percentile, and the pure figure builders in ui/fig_reconstruct.py
(the anomaly score itself: tests/unit/test_ood.py)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from ui import fig_reconstruct
from vae import explore
from vae.config import ModelConfig
from vae.models import build_model


@pytest.fixture(scope="module")
def model():
    return build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(32,)), generator=torch.Generator().manual_seed(0))


def test_percentile_rank_counts_below_and_half_ties():
    ref = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explore.percentile_rank(0.5, ref) == 0.0
    assert explore.percentile_rank(10.0, ref) == 100.0
    assert explore.percentile_rank(2.5, ref) == 50.0
    assert explore.percentile_rank(2.0, ref) == pytest.approx(37.5)  # 1 below + half of 1 tie
    assert explore.percentile_rank(3.0, torch.tensor([3.0, 3.0])) == 50.0
    assert explore.percentile_rank(2.5, np.array([3.0, 1.0, 2.0, 4.0])) == 50.0  # order and type do not matter


def test_percentile_rank_is_monotone():
    ref = torch.randn(500, generator=torch.Generator().manual_seed(1))
    values = torch.linspace(-4, 4, 41)
    ranks = [explore.percentile_rank(float(v), ref) for v in values]
    assert ranks == sorted(ranks) and ranks[0] == 0.0 and ranks[-1] == 100.0


def test_percentile_rank_needs_a_reference():
    with pytest.raises(ValueError, match="at least one reference value"):
        explore.percentile_rank(1.0, torch.zeros(0))


def test_elbo_parts_sum_to_neg_elbo(model):
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    total = explore.neg_elbo(model, x, torch.Generator().manual_seed(5))
    recon, kl = explore.elbo_parts(model, x, torch.Generator().manual_seed(5))
    assert recon.shape == kl.shape == (4,)
    assert torch.allclose(recon + kl, total)
    assert (kl >= 0).all() and (recon > 0).all()


def test_neg_elbo_dataset_is_batched_seeded_and_limited(model, shapes_small):
    a = explore.neg_elbo_dataset(model, shapes_small, torch.Generator().manual_seed(3), limit=300, batch_size=128)
    b = explore.neg_elbo_dataset(model, shapes_small, torch.Generator().manual_seed(3), limit=300, batch_size=128)
    c = explore.neg_elbo_dataset(model, shapes_small, torch.Generator().manual_seed(4), limit=300, batch_size=128)
    assert a.shape == (300,) and torch.equal(a, b) and not torch.equal(a, c)
    # the first batch equals one direct call with the same generator state
    first = explore.neg_elbo(model, shapes_small.float_images(slice(0, 128)), torch.Generator().manual_seed(3))
    assert torch.allclose(a[:128], first)
    assert explore.neg_elbo_dataset(model, shapes_small, torch.Generator(), limit=None).shape == (len(shapes_small),)


def test_step_image_upscales_small_and_shrinks_large():
    small = fig_reconstruct.step_image(np.zeros((28, 28), np.uint8), size=140)
    assert small.size == (140, 140)
    tall = fig_reconstruct.step_image(np.zeros((1000, 500, 3), np.uint8), size=140)
    assert tall.size == (70, 140)
    line = fig_reconstruct.step_image(np.zeros((1, 7000), np.uint8), size=140)
    assert line.size == (140, 1)


def test_elbo_histogram_marks_the_value_even_outside_the_range():
    ref = np.random.default_rng(0).normal(100, 10, 500)
    fig = go.Figure(fig_reconstruct.elbo_histogram(ref, 400.0, 100.0).to_dict())  # validated by Plotly
    assert len(fig.data) == 1 and len(fig.data[0].x) == 500
    assert fig.data[0].xbins.end >= 400.0
    line = fig.layout.shapes[0]
    assert line.x0 == line.x1 == 400.0
    assert "400.0 nats (100.0 percentile)" in fig.layout.annotations[0].text


def test_score_histogram_names_its_score():
    ref = np.random.default_rng(1).normal(30, 5, 200)
    fig = go.Figure(fig_reconstruct.score_histogram(ref, 12.5, 0.5).to_dict())
    assert fig.layout.xaxis.title.text == "anomaly score (nats per image)"
    assert fig.data[0].hovertemplate.startswith("anomaly score %{x}")
    assert fig.layout.shapes[0].x0 == 12.5 and fig.data[0].xbins.start <= 12.5
    assert "12.5 nats (0.5 percentile)" in fig.layout.annotations[0].text
    assert go.Figure(fig_reconstruct.elbo_histogram(ref, 12.5, 0.5).to_dict()).layout.xaxis.title.text == \
        "-ELBO (nats per image)"
