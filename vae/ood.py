"""Out-of-distribution (anomaly) scores that survive the known failure of plain likelihoods.

A VAE's −ELBO (a bound on −log p(x)) can rate images of *another* dataset as more likely than
its own test images: a Fashion-MNIST model finds MNIST digits cheaper than clothes (Nalisnick
et al. 2019, "Do deep generative models know what they don't know?", ICLR). The likelihood is
dominated by how *complex* an image is (how much gray and texture it has), not by whether the
model knows it (Serrà et al. 2020, "Input complexity and out-of-distribution detection with
likelihood-based generative models", ICLR: S(x) = −log p(x) − L(x), L a compressed length).

The score used by the app, :func:`score`, subtracts the complexity the likelihood itself
charges: C(x) = −log p(x | x̂ = x), what even a perfect reconstruction x̂ = x still costs.
For the Bernoulli likelihood on continuous pixels, −log p(x|x̂) = Σ_i H(x_i) + KL(Bern(x_i) ‖
Bern(x̂_i)), so C(x) = Σ_i H(x_i) (binary entropy: 0 for black or white pixels, ln 2 for mid-gray)
and

    S(x) = −ELBO(x) − C(x) = E_q[Σ_i KL(Bern(x_i) ‖ Bern(x̂_i(z)))] + KL(q(z|x) ‖ p(z)),

the nats the model pays beyond the image's own complexity. It is also a likelihood ratio
(Ren et al. 2019, "Likelihood ratios for out-of-distribution detection", NeurIPS) against a
background "model" that copies the image. For a Gaussian likelihood with one σ, C(x) is a
constant (D log σ + D/2 log 2π) and S ranks images as −ELBO does.

The other candidates measured by ``bench/ood.py`` are here too: the PNG length L(x) of Serrà et
al., a per-pixel Bernoulli background model (a cheap Ren et al. ratio) and the two-sided
typicality distance (Nalisnick et al. 2019, "Detecting out-of-distribution inputs to deep
generative models using typicality", arXiv:1906.02994). Pure torch/numpy/Pillow, no UI.
Images are (N, C, H, W) floats in [0, 1]; scores are (N,) nats per image, higher = more unusual.
"""
from __future__ import annotations

import io
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from . import explore
from .checkpoint import Checkpoint
from .data.base import DatasetUnavailable, ImageData
from .models import VAE
from .registry import load_dataset

NATS_PER_BYTE = 8 * math.log(2)


def auroc(inliers: np.ndarray | torch.Tensor, outliers: np.ndarray | torch.Tensor) -> float:
    """Area under the ROC curve of a score where outliers should score higher: the
    Mann-Whitney statistic U / (n_in n_out) = P(s_out > s_in) + P(s_out = s_in) / 2, from the
    average ranks of the pooled scores (ties share their mean rank). 1 = perfect separation,
    0.5 = chance, below 0.5 = outliers score *lower*. Inputs are (n_in,) and (n_out,)."""
    a = np.asarray(inliers, dtype=np.float64).reshape(-1)
    b = np.asarray(outliers, dtype=np.float64).reshape(-1)
    if a.size == 0 or b.size == 0:
        raise ValueError("auroc needs at least one inlier and one outlier score")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("auroc needs finite scores")
    _, inverse, counts = np.unique(np.concatenate([a, b]), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based, ties averaged
    u = ranks[a.size:].sum() - b.size * (b.size + 1) / 2.0
    return float(u / (a.size * b.size))


def complexity(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> (N,) C(x) = −log p(x | x̂ = x) in nats: what a perfect
    reconstruction still costs under the model's likelihood. Bernoulli: Σ_i H(x_i) with
    H(p) = −p ln p − (1−p) ln(1−p); Gaussian: Σ_i (log σ + ½ log 2π), the same for every image."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if model.config.likelihood == "bernoulli":
        h = -(torch.special.xlogy(x, x) + torch.special.xlogy(1 - x, 1 - x))
        return h.flatten(start_dim=1).sum(dim=1)
    n = x[0].numel() if len(x) else 0
    per_pixel = float(model.log_sigma) + 0.5 * math.log(2 * math.pi)
    return torch.full((len(x),), n * per_pixel)


def score(model: VAE, x: torch.Tensor, generator: torch.Generator, samples: int = 8,
          labels: explore.Labels = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, H, W) -> ((N,) −ELBO, (N,) anomaly score S = −ELBO − :func:`complexity`), nats.
    ``labels`` is the class (int or (N,)) for a conditional model."""
    ne = explore.neg_elbo(model, x, generator, samples, labels=labels)
    return ne, ne - complexity(model, x)


def score_dataset(model: VAE, data: ImageData, generator: torch.Generator, limit: int | None = None,
                  samples: int = 8, batch_size: int = 1000,
                  best_class: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(n,) −ELBO and (n,) anomaly score of the first ``limit`` images of ``data`` (all when None).
    A conditional model scores each image as its own label, or, with ``best_class`` (images of
    another dataset, whose labels mean nothing to the model), as its most favourable class."""
    n = len(data) if limit is None else min(limit, len(data))
    if model.num_classes and best_class:
        ne = torch.cat([_best_class_neg_elbo(model, data.float_images(slice(s, min(s + batch_size, n))),
                                             generator, samples) for s in range(0, n, batch_size)] or
                       [torch.zeros(0)])
    else:
        ne = explore.neg_elbo_dataset(model, data, generator, limit=n, samples=samples, batch_size=batch_size)
    return ne, ne - complexity(model, data.float_images(slice(0, n)))


def _best_class_neg_elbo(model: VAE, x: torch.Tensor, generator: torch.Generator, samples: int) -> torch.Tensor:
    """(N,) min over the K classes of −ELBO(x | y = k); every class sees the same posterior noise
    (one generator state, forked per class), so the comparison between classes is fair."""
    state = generator.get_state()
    best = None
    for k in range(model.num_classes):
        generator.set_state(state)
        ne = explore.neg_elbo(model, x, generator, samples, labels=k)
        best = ne if best is None else torch.minimum(best, ne)
    return best


def png_nats(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> (N,) L(x): the length in nats of each image as an 8-bit PNG
    (zlib level 9), the input-complexity estimate of Serrà et al. (2020)."""
    u8 = (torch.as_tensor(x).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = []
    for img in u8:
        buf = io.BytesIO()
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(buf, format="PNG", optimize=True)
        out.append(len(buf.getvalue()) * NATS_PER_BYTE)
    return torch.tensor(out, dtype=torch.float64)


def pixel_background(reference: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """A per-pixel independent Bernoulli background model fitted to ``reference`` (N, C, H, W):
    its mean image (C, H, W), clipped to [eps, 1 − eps]."""
    return torch.as_tensor(reference, dtype=torch.float32).mean(dim=0).clamp(eps, 1 - eps)


def pixel_background_nll(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N,) −log p_bg(x) = −Σ_i [x_i log m_i + (1 − x_i) log(1 − m_i)] in nats
    under the background of :func:`pixel_background`; −ELBO minus this is a likelihood ratio
    score in the manner of Ren et al. (2019)."""
    ll = x * mean.log() + (1 - x) * (1 - mean).log()
    return -ll.flatten(start_dim=1).sum(dim=1)


def typicality(values: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Two-sided typicality distance |v − median(reference)| of (N,) ``values`` against a
    reference (M,) of the same statistic on in-distribution images (Nalisnick et al. 2019, for
    one image at a time): unusually *low* values count as unusual too."""
    ref = torch.as_tensor(reference, dtype=torch.float64)
    return (torch.as_tensor(values, dtype=torch.float64) - ref.median()).abs()


@dataclass(frozen=True)
class OODReport:
    """AUROCs of the app's score and of plain −ELBO, with the image counts behind them."""

    n_in: int
    n_out: int
    auroc_score: float
    auroc_neg_elbo: float


def compare(model: VAE, inliers: ImageData, outliers: ImageData, seed: int = 0, limit: int | None = None,
            samples: int = 8, batch_size: int = 1000) -> OODReport:
    """Score the first ``limit`` images of both sets (each with a generator seeded ``seed``) and
    measure how well the score and plain −ELBO tell outliers from inliers (:func:`auroc`)."""
    if tuple(outliers.images.shape[1:]) != tuple(inliers.images.shape[1:]):
        raise ValueError(f"the images to compare have shape {tuple(outliers.images.shape[1:])}, "
                         f"the model's {tuple(inliers.images.shape[1:])}")
    ne_in, s_in = score_dataset(model, inliers, torch.Generator().manual_seed(seed), limit, samples, batch_size)
    ne_out, s_out = score_dataset(model, outliers, torch.Generator().manual_seed(seed), limit, samples, batch_size,
                                  best_class=True)
    return OODReport(n_in=len(s_in), n_out=len(s_out), auroc_score=auroc(s_in, s_out),
                     auroc_neg_elbo=auroc(ne_in, ne_out))


def format_report(report: OODReport, inliers: str, outliers: str) -> str:
    """The AUROC lines ``python -m vae.evaluate MODEL --ood DATASET`` prints."""
    return "\n".join([
        f"Out-of-distribution detection: {report.n_in} images of {inliers} (in) vs "
        f"{report.n_out} images of {outliers} (out); AUROC, 1 = perfect, 0.5 = chance",
        f"  anomaly score (-ELBO - complexity, the app's)  {report.auroc_score:.3f}",
        f"  plain -ELBO                                    {report.auroc_neg_elbo:.3f}",
    ])


def ood_main(ckpt: Checkpoint, inliers: ImageData, outlier_set: str, split: str = "test",
             data_dir: str | None = None, seed: int = 0, limit: int | None = None) -> int:
    """``python -m vae.evaluate MODEL --ood DATASET``: load DATASET's ``split`` (images shaped as
    the model's), print :func:`format_report` for the first ``limit`` images of each set; 0, or 2
    after an error message on stderr."""
    cfg = ckpt.model.config
    try:
        outliers = load_dataset(outlier_set, split, data_dir=data_dir, channels=cfg.channels, size=cfg.height)
        report = compare(ckpt.model, inliers, outliers, seed=seed, limit=limit)
    except (DatasetUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report, inliers.name, outliers.name))
    return 0
