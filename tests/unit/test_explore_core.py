import math

import pytest
import torch

from vae import explore
from vae.config import ModelConfig
from vae.data.shapes import make_shapes
from vae.metrics import factor_correlations
from vae.models import build_model


@pytest.fixture(scope="module")
def model():
    return build_model(ModelConfig(latent_dim=3, hidden=(32,)), generator=torch.Generator().manual_seed(0))


def test_interpolate_endpoints_and_shapes():
    z0, z1 = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([-1.0, 3.0, 0.5])
    for method in ("linear", "spherical"):
        path = explore.interpolate(z0, z1, 7, method)
        assert path.shape == (7, 3)
        assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    with pytest.raises(ValueError, match="method"):
        explore.interpolate(z0, z1, 3, "cubic")


def test_slerp_keeps_norm_between_equal_norm_points_and_lerp_shrinks_it():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    t = torch.linspace(0, 1, 11)
    assert torch.allclose(explore.slerp(z0, z1, t).norm(dim=1), torch.full((11,), 3.0), atol=1e-5)
    assert explore.lerp(z0, z1, t).norm(dim=1)[5] == pytest.approx(3 / math.sqrt(2), abs=1e-5)
    # parallel vectors fall back to lerp instead of dividing by sin(0)
    assert torch.allclose(explore.slerp(z0, 2 * z0, t), explore.lerp(z0, 2 * z0, t))


def test_traversal_varies_only_one_dim(model):
    base = torch.tensor([0.5, -0.5, 1.0])
    strip = explore.traversal(model, base, 1, torch.tensor([-3.0, 0.0, 3.0]))
    assert strip.shape == (3, 1, 28, 28)
    assert torch.allclose(strip[1], explore.decode(model, torch.tensor([0.5, 0.0, 1.0]))[0], atol=1e-6)
    assert torch.equal(base, torch.tensor([0.5, -0.5, 1.0]))  # the input is not modified
    assert not torch.allclose(strip[0], strip[2])


def test_sample_prior_uses_the_generator_and_temperature(model):
    a = explore.sample_prior(model, 4, torch.Generator().manual_seed(1))
    b = explore.sample_prior(model, 4, torch.Generator().manual_seed(1))
    c = explore.sample_prior(model, 4, torch.Generator().manual_seed(1), temperature=0.1)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    with pytest.raises(ValueError):
        explore.sample_prior(model, 1, torch.Generator(), temperature=0)


def test_encode_dataset_matches_direct_encoding(model):
    data = make_shapes(250, seed=0)
    enc = explore.encode_dataset(model, data, batch_size=100)
    assert enc.mean.shape == (250, 3) and torch.equal(enc.ids, torch.arange(250))
    mean, std = explore.encode_images(model, data.float_images(slice(0, 5)))
    assert torch.allclose(enc.mean[:5], mean, atol=1e-6)
    assert torch.allclose(enc.logvar[:5].mul(0.5).exp(), std, atol=1e-6)


def test_dims_by_activity_orders_by_kl():
    assert explore.dims_by_activity([0.1, 3.0, 0.0, 1.5]) == [1, 3, 0, 2]


def test_neg_elbo_per_image(model):
    x = make_shapes(6, seed=1).float_images()
    v = explore.neg_elbo(model, x, torch.Generator().manual_seed(0))
    assert v.shape == (6,) and (v > 0).all()


def test_factor_correlations_finds_the_matching_factor():
    g = torch.Generator().manual_seed(0)
    n = 3000
    factors = torch.stack([torch.randint(0, 3, (n,), generator=g).float(), torch.rand(n, generator=g),
                           torch.rand(n, generator=g)], dim=1)
    z = torch.stack([factors[:, 2] * 2 + 0.01 * torch.randn(n, generator=g),   # tracks factor 2
                     factors[:, 0] + 0.01 * torch.randn(n, generator=g),       # tracks the category
                     torch.randn(n, generator=g)], dim=1)                      # noise
    corr = factor_correlations(z, factors)
    assert corr.shape == (3, 3)
    assert corr[0, 2] > 0.99 and corr[0, 1] < 0.1
    assert corr[1, 0] > 0.99
    assert corr[2].max() < 0.1
