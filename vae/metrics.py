"""Test-set evaluation: -ELBO and its parts, KL per dimension, active units, IWAE bound."""
from __future__ import annotations

import torch

from .data.base import ImageData
from .losses import iwae_log_likelihood
from .models import VAE

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016: unit u is active if Cov_x(E_q[z_u]) > 0.01


@torch.inference_mode()
def evaluate(model: VAE, data: ImageData | torch.Tensor, iwae_k: int = 0, batch_size: int = 500,
             seed: int = 0, device: torch.device | str | None = None, labels: torch.Tensor | None = None) -> dict:
    """Evaluate ``model`` on ``data`` ((N, C, H, W) uint8 ImageData or float tensor in [0, 1]).

    Returns nats per image: ``neg_elbo``, ``recon``, ``kl``, ``kl_per_dim`` (list of D),
    ``active_units`` and, when ``iwae_k`` > 0, ``iwae_nll`` = -log p(x) estimated with k samples.
    One seeded z per image makes the numbers repeatable. A class-conditional model is given the
    (N,) ``labels`` (default: ``data.labels`` of an ImageData), and its numbers are those of
    log p(x|y): the conditional ELBO (Sohn et al. 2015) and IWAE bound.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    n = len(data)
    sums = {"recon": 0.0, "kl": 0.0, "iwae": 0.0}
    kl_dim = torch.zeros(model.latent_dim, dtype=torch.float64)
    means = []
    ys = _labels(model, data, labels)
    for start in range(0, n, batch_size):
        x = _batch(data, start, batch_size).to(device)
        y = None if ys is None else ys[start:start + batch_size].to(device)
        posterior = model.encode(x, y)
        recon = -model.log_likelihood(x, model.decode(posterior.sample(generator), y))
        kl = posterior.kl(per_dim=True).double()
        sums["recon"] += recon.double().sum().item()
        sums["kl"] += kl.sum().item()
        kl_dim += kl.sum(dim=0).cpu()
        means.append(posterior.mean.double().cpu())
        if iwae_k:
            sums["iwae"] += iwae_log_likelihood(model, x, iwae_k, generator, posterior=posterior,
                                                labels=y).double().sum().item()
    model.train(was_training)
    mu = torch.cat(means)
    activity = mu.var(dim=0, unbiased=False) if n > 1 else torch.zeros(model.latent_dim, dtype=torch.float64)
    out = {
        "n": n,
        "neg_elbo": (sums["recon"] + sums["kl"]) / n,
        "recon": sums["recon"] / n,
        "kl": sums["kl"] / n,
        "kl_per_dim": [round(v, 4) for v in (kl_dim / n).tolist()],
        "activity_per_dim": [round(v, 4) for v in activity.tolist()],
        "active_units": int((activity > ACTIVE_THRESHOLD).sum().item()),
    }
    if iwae_k:
        out["iwae_nll"] = -sums["iwae"] / n
        out["iwae_k"] = iwae_k
    return out


def _labels(model: VAE, data: ImageData | torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    """The (N,) labels a conditional model is evaluated with (None for an unconditional one)."""
    if not model.num_classes:
        return None
    if labels is None and isinstance(data, ImageData):
        labels = data.labels
    if labels is None:
        raise ValueError(f"this model is conditional on {model.num_classes} classes: give the images' labels")
    labels = torch.as_tensor(labels).reshape(-1)
    if len(labels) != len(data):
        raise ValueError(f"{len(labels)} labels for {len(data)} images")
    return labels


def _batch(data: ImageData | torch.Tensor, start: int, size: int) -> torch.Tensor:
    if isinstance(data, ImageData):
        return data.float_images(slice(start, start + size))
    return data[start:start + size].float()


def format_table(metrics: dict, title: str = "") -> str:
    """Human-readable table of :func:`evaluate`'s output."""
    rows = [
        ("images", f"{metrics['n']}"),
        ("-ELBO (nats/image)", f"{metrics['neg_elbo']:.2f}"),
        ("  reconstruction", f"{metrics['recon']:.2f}"),
        ("  KL", f"{metrics['kl']:.2f}"),
        ("active units", f"{metrics['active_units']} of {len(metrics['kl_per_dim'])}"),
    ]
    if "iwae_nll" in metrics:
        rows.append((f"IWAE -log p(x), k={metrics['iwae_k']}", f"{metrics['iwae_nll']:.2f}"))
    top = sorted(range(len(metrics["kl_per_dim"])), key=lambda d: -metrics["kl_per_dim"][d])[:8]
    rows.append(("KL per dim (top 8)", ", ".join(f"z{d}={metrics['kl_per_dim'][d]:.2f}" for d in top)))
    width = max(len(r[0]) for r in rows)
    lines = [title] if title else []
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


def factor_correlations(means: torch.Tensor, factors: torch.Tensor,
                        categorical: tuple[int, ...] = (0,)) -> torch.Tensor:
    """(D, K) association between each latent mean (N, D) and each ground-truth factor (N, K).

    Continuous factors: |Pearson r|. Categorical factors (column indices in ``categorical``):
    the correlation ratio eta = sqrt(between-class variance / total variance) of the latent.
    Both lie in [0, 1]; 1 means the latent is a function of the factor (linear, for Pearson).
    """
    z = means.double()
    f = factors.double()
    zc = z - z.mean(dim=0)
    zstd = zc.pow(2).mean(dim=0).sqrt().clamp_min(1e-12)
    out = torch.zeros(z.shape[1], f.shape[1], dtype=torch.float64)
    for k in range(f.shape[1]):
        if k in categorical:
            between = torch.zeros(z.shape[1], dtype=torch.float64)
            for c in f[:, k].unique():
                sel = f[:, k] == c
                between += sel.sum() * (z[sel].mean(dim=0) - z.mean(dim=0)).pow(2)
            out[:, k] = (between / len(z)).sqrt() / zstd
        else:
            fc = f[:, k] - f[:, k].mean()
            out[:, k] = ((zc * fc[:, None]).mean(dim=0) / (zstd * fc.pow(2).mean().sqrt().clamp_min(1e-12))).abs()
    return out.float()
