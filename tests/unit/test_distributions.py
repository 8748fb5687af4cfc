import math

import torch

from vae.distributions import (
    DiagonalGaussian,
    bernoulli_log_likelihood,
    gaussian_log_likelihood,
    standard_normal_log_density,
)


def _posterior(seed=0, b=4, d=3):
    g = torch.Generator().manual_seed(seed)
    return DiagonalGaussian(torch.randn(b, d, generator=g), torch.randn(b, d, generator=g) * 0.5)


def test_kl_is_zero_for_standard_normal():
    q = DiagonalGaussian(torch.zeros(3, 5), torch.zeros(3, 5))
    assert torch.equal(q.kl(), torch.zeros(3))
    assert torch.equal(q.kl(per_dim=True), torch.zeros(3, 5))


def test_closed_form_kl_matches_monte_carlo():
    q = _posterior()
    z = q.sample(torch.Generator().manual_seed(1), n=200_000)  # (n, B, D)
    mc = (q.log_prob(z) - standard_normal_log_density(z)).mean(dim=0)
    assert torch.allclose(q.kl(), mc, atol=0.02), (q.kl(), mc)


def test_kl_per_dim_sums_to_total_and_is_positive():
    q = _posterior(2)
    per = q.kl(per_dim=True)
    assert per.shape == (4, 3)
    assert (per >= 0).all()
    assert torch.allclose(per.sum(-1), q.kl())


def test_sample_uses_generator_and_moments():
    q = _posterior(3, b=2, d=2)
    a = q.sample(torch.Generator().manual_seed(5))
    b = q.sample(torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    many = q.sample(torch.Generator().manual_seed(6), n=100_000)
    assert torch.allclose(many.mean(0), q.mean, atol=0.03)
    assert torch.allclose(many.std(0), q.std, atol=0.03)
    assert torch.equal(q.mode(), q.mean)


def test_sample_is_reparameterised():
    mean = torch.zeros(1, 2, requires_grad=True)
    logvar = torch.zeros(1, 2, requires_grad=True)
    DiagonalGaussian(mean, logvar).sample(torch.Generator().manual_seed(0)).sum().backward()
    assert mean.grad is not None and torch.equal(mean.grad, torch.ones(1, 2))
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_log_prob_matches_torch_distributions():
    q = _posterior(4)
    z = torch.randn(4, 3)
    ref = torch.distributions.Normal(q.mean, q.std).log_prob(z).sum(-1)
    assert torch.allclose(q.log_prob(z), ref, atol=1e-5)


def test_bernoulli_likelihood_is_negative_bce_summed_per_image():
    g = torch.Generator().manual_seed(0)
    logits, x = torch.randn(2, 1, 4, 4, generator=g), torch.rand(2, 1, 4, 4, generator=g)
    p = torch.sigmoid(logits)
    manual = (x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    assert torch.allclose(bernoulli_log_likelihood(logits, x), manual, atol=1e-4)


def test_gaussian_likelihood_matches_normal_log_prob():
    g = torch.Generator().manual_seed(0)
    mean, x = torch.rand(3, 1, 2, 5, generator=g), torch.rand(3, 1, 2, 5, generator=g)
    log_sigma = torch.tensor(math.log(0.3))
    ref = torch.distributions.Normal(mean, 0.3).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(gaussian_log_likelihood(mean, x, log_sigma), ref, atol=1e-4)
