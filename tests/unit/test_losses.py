import torch

from vae.config import ModelConfig
from vae.losses import elbo, iwae_log_likelihood, kl_weight
from vae.models import build_model


def _model_and_batch():
    model = build_model(ModelConfig(latent_dim=4, hidden=(32,)), generator=torch.Generator().manual_seed(0))
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    return model, x


def test_elbo_parts_shapes_and_beta():
    model, x = _model_and_batch()
    p1 = elbo(model, x, beta=1.0, generator=torch.Generator().manual_seed(2))
    p4 = elbo(model, x, beta=4.0, generator=torch.Generator().manual_seed(2))
    assert p1.recon.shape == p1.kl.shape == p1.total.shape == (6,)
    assert torch.allclose(p1.total, p1.recon + p1.kl)
    assert torch.allclose(p4.total, p4.recon + 4.0 * p4.kl)
    assert torch.allclose(p4.neg_elbo, p1.neg_elbo)  # the bound itself does not depend on beta
    assert (p1.kl >= 0).all() and (p1.recon > 0).all()


def test_kl_warmup_schedule():
    assert kl_weight(2.0, 0.0, 0.0) == 2.0
    assert kl_weight(2.0, 0.0, 4.0) == 0.0
    assert kl_weight(2.0, 1.0, 4.0) == 0.5
    assert kl_weight(2.0, 10.0, 4.0) == 2.0


def test_iwae_bound_is_tighter_than_elbo_and_k1_equals_elbo():
    model, x = _model_and_batch()
    with torch.no_grad():
        gens = [torch.Generator().manual_seed(s) for s in range(200)]
        neg_elbo = torch.stack([elbo(model, x, generator=g).neg_elbo for g in gens]).mean(0)
        gens = [torch.Generator().manual_seed(s) for s in range(200)]
        iwae1 = torch.stack([iwae_log_likelihood(model, x, 1, g) for g in gens]).mean(0)
        iwae100 = iwae_log_likelihood(model, x, 100, torch.Generator().manual_seed(0), chunk=30)
    assert torch.allclose(-iwae1, neg_elbo, rtol=0, atol=0.5)
    assert (-iwae100 < neg_elbo).all()
