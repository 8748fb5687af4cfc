"""Losses as small pure functions. All values are nats per image.

ELBO (Kingma & Welling 2014, eq. 3):   log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z))
beta-VAE objective (Higgins et al. 2017): recon + beta * KL, recon = -E_q[log p(x|z)]
IWAE bound (Burda et al. 2016, eq. 8):  log p(x) >= E[log 1/k sum_i p(x, z_i) / q(z_i|x)]
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .distributions import DiagonalGaussian, standard_normal_log_density
from .models import VAE


@dataclass(frozen=True)
class ELBOParts:
    """Per-image loss parts, each ``(B,)`` in nats.

    ``recon`` = -log p(x|z) for one z ~ q(z|x); ``kl`` = KL(q(z|x) || N(0, I));
    ``total`` = recon + beta * kl (what is minimised); ``neg_elbo`` = recon + kl (the bound).
    """

    recon: torch.Tensor
    kl: torch.Tensor
    total: torch.Tensor

    @property
    def neg_elbo(self) -> torch.Tensor:
        return self.recon + self.kl


def elbo(model: VAE, x: torch.Tensor, beta: float = 1.0, generator: torch.Generator | None = None,
         labels: torch.Tensor | int | None = None) -> ELBOParts:
    """Single-sample ELBO parts for a batch ``x`` of shape (B, C, H, W) in [0, 1] (and, for a
    class-conditional model, its (B,) ``labels``: then the conditional ELBO of log p(x|y))."""
    posterior, params = model(x, labels, generator=generator)
    recon = -model.log_likelihood(x, params)
    kl = posterior.kl()
    return ELBOParts(recon=recon, kl=kl, total=recon + beta * kl)


def kl_weight(beta: float, progress_epochs: float, warmup_epochs: float) -> float:
    """Linear KL warm-up (Bowman et al. 2016; Sonderby et al. 2016):
    weight = beta * min(1, progress / warmup). ``progress_epochs`` may be fractional."""
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, max(0.0, progress_epochs) / warmup_epochs)


def iwae_log_likelihood(model: VAE, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                        chunk: int = 50, posterior: DiagonalGaussian | None = None,
                        labels: torch.Tensor | int | None = None) -> torch.Tensor:
    """Importance-weighted estimate of log p(x), (B,) nats; tends to log p(x) as k grows
    (log p(x|y) for a class-conditional model given the (B,) ``labels``).

    log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), z_i ~ q(z|x);
    estimate = logsumexp_i(log w_i) - log k. Samples are drawn ``chunk`` at a time to bound memory.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    posterior = model.encode(x, labels) if posterior is None else posterior
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        z = posterior.sample(generator, n=n)  # (n, B, D)
        log_px_z = model.log_likelihood(x, model.decode(z, labels))  # (n, B)
        log_w.append(log_px_z + standard_normal_log_density(z) - posterior.log_prob(z))
    return torch.logsumexp(torch.cat(log_w, dim=0), dim=0) - math.log(k)
