"""Latent-space operations behind the explore pages: encode, decode, traverse, interpolate.
The plane of the Latent map (PCA, posterior ellipses, grid coordinates) is :mod:`vae.plane`.

Pure torch, no UI. Everything runs under ``torch.inference_mode()`` and takes explicit
generators, so many sessions can share one process. Images are (N, C, H, W) in [0, 1].
For a class-conditional model (:attr:`vae.models.VAE.num_classes` > 0) the functions take the
class: ``labels`` (an int for all, or an (N,) int64 tensor) or ``label`` (one int); an
unconditional model ignores them. :func:`encode_dataset` and :func:`neg_elbo_dataset` pass the
dataset's own labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .data.base import ImageData
from .models import VAE
from .plane import LatentPlane

Labels = torch.Tensor | int | None


@torch.inference_mode()
def decode(model: VAE, z: torch.Tensor, labels: Labels = None) -> torch.Tensor:
    """(N, D) or (D,) latents (and labels: an int or (N,)) -> (N, C, H, W) mean images in [0, 1]."""
    z = torch.as_tensor(z, dtype=torch.float32)
    return model.decode_image(z.reshape(-1, model.latent_dim), labels)


@dataclass
class Encoded:
    """Posterior parameters of a whole dataset: ``mean``/``logvar`` (N, D), ``labels``/``ids`` (N,)."""

    mean: torch.Tensor
    logvar: torch.Tensor
    labels: torch.Tensor
    ids: torch.Tensor


@torch.inference_mode()
def encode_dataset(model: VAE, data: ImageData, batch_size: int = 2000) -> Encoded:
    """Encode every image of ``data`` (uint8 (N, C, H, W)) in batches."""
    means, logvars = [], []
    for start in range(0, len(data), batch_size):
        part = slice(start, start + batch_size)
        q = model.encode(data.float_images(part), _own_labels(model, data, part))
        means.append(q.mean)
        logvars.append(q.logvar)
    d = model.latent_dim
    mean = torch.cat(means) if means else torch.zeros(0, d)
    logvar = torch.cat(logvars) if logvars else torch.zeros(0, d)
    return Encoded(mean=mean, logvar=logvar, labels=data.labels, ids=data.ids)


@torch.inference_mode()
def encode_images(model: VAE, x: torch.Tensor, labels: Labels = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, H, W) float images (and labels) -> posterior (mean, std), each (N, D)."""
    q = model.encode(x, labels)
    return q.mean, q.std


@torch.inference_mode()
def reconstruct(model: VAE, x: torch.Tensor, labels: Labels = None) -> torch.Tensor:
    """(N, C, H, W) (and labels) -> (N, C, H, W): decode the posterior mean."""
    return model.reconstruct(x, labels)


def neg_elbo(model: VAE, x: torch.Tensor, generator: torch.Generator, samples: int = 8,
             labels: Labels = None) -> torch.Tensor:
    """(N,) -ELBO in nats per image: reconstruction (averaged over ``samples`` posterior draws) + KL."""
    recon, kl = elbo_parts(model, x, generator, samples, labels=labels)
    return recon + kl


@torch.inference_mode()
def elbo_parts(model: VAE, x: torch.Tensor, generator: torch.Generator,
               samples: int = 8, labels: Labels = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of -ELBO for (N, C, H, W) images, each (N,) in nats per image:
    reconstruction -E_q[log p(x|z)] (over ``samples`` draws) and KL(q(z|x) || p(z)); for a
    conditional model, given ``labels``: -E_q[log p(x|z, y)] and KL(q(z|x, y) || p(z)).
    Their sum equals :func:`neg_elbo` for a generator in the same state."""
    q = model.encode(x, labels)
    z = q.sample(generator, n=samples)  # (S, N, D); labels (N,) broadcast over S
    return -model.log_likelihood(x, model.decode(z, labels)).mean(dim=0), q.kl()


@torch.inference_mode()
def neg_elbo_dataset(model: VAE, data: ImageData, generator: torch.Generator, limit: int | None = None,
                     samples: int = 8, batch_size: int = 1000) -> torch.Tensor:
    """(n,) -ELBO in nats of the first ``limit`` images of ``data`` (all when None), batched;
    one ``generator`` is drawn from in order, so the result is repeatable for a seed."""
    n = len(data) if limit is None else min(limit, len(data))
    parts = [slice(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    out = [neg_elbo(model, data.float_images(p), generator, samples, labels=_own_labels(model, data, p))
           for p in parts]
    return torch.cat(out) if out else torch.zeros(0)


def _own_labels(model: VAE, data: ImageData, part: slice) -> torch.Tensor | None:
    """The dataset's labels of ``part`` for a conditional model, None for an unconditional one."""
    return data.labels[part] if model.num_classes else None


def percentile_rank(value: float, reference: torch.Tensor) -> float:
    """Where ``value`` falls among ``reference`` (N,), in percent (0-100), ties counting half:

        100 * (#{r < value} + #{r == value} / 2) / N.

    With -ELBOs this is an anomaly score: 99 means the image is harder to explain than 99% of
    the reference (test) images."""
    ref = torch.as_tensor(reference, dtype=torch.float64).reshape(-1)
    if ref.numel() == 0:
        raise ValueError("percentile_rank needs at least one reference value")
    below = (ref < value).sum().item()
    ties = (ref == value).sum().item()
    return 100.0 * (below + 0.5 * ties) / ref.numel()


@torch.inference_mode()
def manifold(model: VAE, plane: LatentPlane, n: int, low: float = 0.05,
             high: float = 0.95, label: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode the n x n grid of :meth:`LatentPlane.grid` in one batched call (all as class
    ``label`` for a conditional model): images (n*n, C, H, W) in reading order (top row at the
    highest second coordinate) and the per-axis plane values (n, 2)."""
    z, values = plane.grid(n, low, high)
    return model.decode_image(z, label), values


@torch.inference_mode()
def traversal(model: VAE, base: torch.Tensor, dim: int, values: torch.Tensor,
              label: int | None = None) -> torch.Tensor:
    """Vary latent ``dim`` of ``base`` (D,) over ``values`` (K,) (as class ``label`` for a
    conditional model): returns (K, C, H, W)."""
    z = base.reshape(1, -1).repeat(len(values), 1)
    z[:, dim] = values
    return model.decode_image(z, label)


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation: (D,), (D,), (K,) -> (K, D)."""
    t = t.reshape(-1, 1)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models):

    slerp = sin((1-t) w)/sin(w) z0 + sin(t w)/sin(w) z1, cos w = z0.z1 / (|z0||z1|).
    Falls back to lerp when the vectors are (anti)parallel or zero.
    """
    n0, n1 = z0.norm(), z1.norm()
    if n0 < 1e-8 or n1 < 1e-8:
        return lerp(z0, z1, t)
    cos = torch.clamp(torch.dot(z0, z1) / (n0 * n1), -1.0, 1.0)
    omega = torch.arccos(cos)
    if torch.sin(omega).abs() < 1e-6:
        return lerp(z0, z1, t)
    t = t.reshape(-1, 1)
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """(steps, D) path from z0 to z1 inclusive; ``method`` is ``linear`` or ``spherical``."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    return interpolate_at(z0, z1, torch.linspace(0, 1, steps), method)


def interpolate_at(z0: torch.Tensor, z1: torch.Tensor, t: float | torch.Tensor, method: str = "linear") -> torch.Tensor:
    """Points at fractions ``t`` (a float or (K,)) along the path z0 -> z1: (K, D).

    The same path as :func:`interpolate`, read at any t in [0, 1] (a slider), not only at
    equally spaced steps.
    """
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    if method == "linear":
        return lerp(z0, z1, t)
    if method == "spherical":
        return slerp(z0, z1, t)
    raise ValueError(f"method must be 'linear' or 'spherical', got {method!r}")


def pick_of_class(labels: torch.Tensor, label: int, generator: torch.Generator) -> int:
    """Position of one image with class ``label``, drawn uniformly from ``labels`` (N,) with
    ``generator``; raises ValueError when the class has no images."""
    pool = torch.nonzero(torch.as_tensor(labels) == int(label)).reshape(-1)
    if len(pool) == 0:
        raise ValueError(f"there are no images of class {label} in this dataset")
    return int(pool[torch.randint(len(pool), (1,), generator=generator)])


@torch.inference_mode()
def sample_prior(model: VAE, n: int, generator: torch.Generator, temperature: float = 1.0,
                 label: Labels = None) -> torch.Tensor:
    """Decode ``n`` draws z ~ N(0, temperature^2 I) (as class ``label``, an int or (n,), for a
    conditional model: samples of p(x|y)): (n, C, H, W)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = torch.randn(n, model.latent_dim, generator=generator) * temperature
    return model.decode_image(z, label)


def dims_by_activity(kl_per_dim: list[float] | torch.Tensor) -> list[int]:
    """Latent dimensions ordered from most to least active (largest mean KL first)."""
    kl = torch.as_tensor(kl_per_dim, dtype=torch.float64)
    return torch.argsort(kl, descending=True, stable=True).tolist()

