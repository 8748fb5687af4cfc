"""The encoder's posterior q(z|x) and the decoder's likelihoods p(x|z).

All log-densities are in nats. Per-image quantities are summed over pixels or latent
dimensions so they can be compared across papers ("nats per image").
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))) for a batch.

    ``mean`` and ``logvar`` have shape ``(B, D)``.
    """

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor) -> None:
        if mean.shape != logvar.shape:
            raise ValueError(f"mean {tuple(mean.shape)} and logvar {tuple(logvar.shape)} differ in shape")
        self.mean = mean
        self.logvar = logvar

    @property
    def std(self) -> torch.Tensor:
        """(B, D) standard deviations."""
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None, n: int | None = None) -> torch.Tensor:
        """Reparameterised sample z = mean + std * eps, eps ~ N(0, I) (Kingma & Welling 2014, eq. 10).

        Returns ``(B, D)``, or ``(n, B, D)`` when ``n`` is given. Gradients flow to mean/logvar.
        """
        shape = self.mean.shape if n is None else (n, *self.mean.shape)
        eps = torch.randn(shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        """(B, D) most probable latent (the mean)."""
        return self.mean

    def kl(self, per_dim: bool = False) -> torch.Tensor:
        """KL(q || N(0, I)) in closed form (Kingma & Welling 2014, appendix B):

        KL_d = 0.5 * (mean_d^2 + var_d - 1 - logvar_d).
        Returns ``(B,)`` summed over dimensions, or ``(B, D)`` with ``per_dim=True``.
        """
        per = 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar)
        return per if per_dim else per.sum(dim=-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) summed over dimensions; ``z`` is ``(..., B, D)``, result ``(..., B)``."""
        return gaussian_log_density(z, self.mean, self.logvar)

    def __len__(self) -> int:
        return self.mean.shape[0]


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag(exp(logvar))) summed over the last axis."""
    return -0.5 * (LOG_2PI + logvar + (z - mean).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last axis."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=-1)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = sum_i x_i log s(l_i) + (1 - x_i) log(1 - s(l_i)) = -BCEWithLogits.

    Works for continuous x in [0, 1] (the usual MNIST practice). ``logits`` and ``x`` are
    ``(..., C, H, W)``; the result is ``(...)`` (one number per image).
    """
    bce = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    return -bce.flatten(start_dim=-3).sum(dim=-1)


def gaussian_log_likelihood(mean: torch.Tensor, x: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = sum_i log N(x_i; mean_i, sigma^2)
    = -sum_i [(x_i - mean_i)^2 / (2 sigma^2) + log sigma + 0.5 log 2 pi].

    ``log_sigma`` is a scalar tensor; shapes as in :func:`bernoulli_log_likelihood`.
    """
    sq = (x - mean).pow(2).flatten(start_dim=-3)
    n = sq.shape[-1]
    return -(0.5 * sq.sum(dim=-1) * torch.exp(-2.0 * log_sigma) + n * (log_sigma + 0.5 * LOG_2PI))
