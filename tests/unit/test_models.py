import pytest
import torch

from vae.config import ModelConfig
from vae.models import build_model


@pytest.mark.parametrize("cfg", [
    ModelConfig(arch="mlp", latent_dim=2),
    ModelConfig(arch="mlp", latent_dim=128, hidden=(64,)),
    ModelConfig(arch="conv", latent_dim=20),
    ModelConfig(arch="conv", latent_dim=1, conv_channels=(8, 16, 32)),  # 28 -> 14 -> 7 -> 3 and back
    ModelConfig(arch="conv", channels=3, height=64, width=64, latent_dim=10, conv_channels=(8, 16, 16)),
    ModelConfig(arch="mlp", channels=3, height=32, width=24, latent_dim=4, likelihood="gaussian", learn_sigma=True),
])
def test_shapes_through_the_model(cfg):
    model = build_model(cfg, generator=torch.Generator().manual_seed(0))
    x = torch.rand(5, *cfg.image_shape)
    posterior, params = model(x, torch.Generator().manual_seed(1))
    assert posterior.mean.shape == (5, cfg.latent_dim) == posterior.logvar.shape
    assert params.shape == (5, *cfg.image_shape)
    img = model.decode_image(torch.randn(3, 7, cfg.latent_dim))
    assert img.shape == (3, 7, *cfg.image_shape)
    assert img.min() >= 0 and img.max() <= 1
    assert model.log_likelihood(x, params).shape == (5,)
    assert model.reconstruct(x).shape == x.shape


def test_build_with_generator_is_deterministic_and_leaves_global_rng_alone():
    cfg = ModelConfig(arch="conv", latent_dim=3)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = build_model(cfg, generator=torch.Generator().manual_seed(7))
    # nn.Module construction draws default init from the global RNG; build_model restores it
    assert torch.equal(before, torch.random.get_rng_state())
    b = build_model(cfg, generator=torch.Generator().manual_seed(7))
    c = build_model(cfg, generator=torch.Generator().manual_seed(8))
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert not all(torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))


def test_learned_sigma_is_a_parameter_fixed_is_a_buffer():
    learned = build_model(ModelConfig(likelihood="gaussian", learn_sigma=True))
    fixed = build_model(ModelConfig(likelihood="gaussian", sigma=0.3))
    assert any(name == "log_sigma" for name, _ in learned.named_parameters())
    assert not any(name == "log_sigma" for name, _ in fixed.named_parameters())
    assert torch.isclose(fixed.log_sigma.exp(), torch.tensor(0.3))
