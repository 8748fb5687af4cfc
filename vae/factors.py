"""Disentanglement of a model's codes against a dataset's known factors of variation.

The metrics (:mod:`vae.disentangle`: MIG, SAP, DCI) need discrete factors. ``shapes`` has one
categorical factor (shape) and four continuous ones (scale, rotation, x, y, drawn uniformly), so
the continuous ones are cut into ``FACTOR_BINS`` = 10 equal-width bins over their observed range
(as disentanglement_lib scores dSprites on its discrete grid: 6 scales, 40 rotations, 32 x and
32 y positions). The codes are the posterior means E_q[z|x] of the test split, as in Chen et al.
(2018), Kumar et al. (2018) and Eastwood & Williams (2018).
"""
from __future__ import annotations

import numpy as np
import torch

from . import explore
from .data.base import ImageData
from .disentangle import discretize, disentanglement_report
from .metrics import factor_correlations
from .models import VAE

FACTOR_BINS = 10  # equal-width bins per continuous factor
LATENT_BINS = 20  # MIG's equal-width bins per latent (disentanglement_lib's default)
METRIC_NAMES = {  # key of disentanglement_report -> what the CLI and the page print
    "mig": "MIG",
    "sap": "SAP",
    "dci_disentanglement": "DCI disentanglement",
    "dci_completeness": "DCI completeness",
    "dci_informativeness": "DCI informativeness",
}


def is_categorical(column: np.ndarray | torch.Tensor, max_levels: int = FACTOR_BINS) -> bool:
    """True when a factor column (N,) holds whole numbers with at most ``max_levels`` distinct
    values (a class index such as shapes' ``shape``); such a factor is used as it is."""
    v = np.asarray(column, dtype=np.float64)
    return bool(np.all(v == np.round(v)) and len(np.unique(v)) <= max_levels)


def discretize_factors(factors: np.ndarray | torch.Tensor, bins: int = FACTOR_BINS) -> np.ndarray:
    """(N, K) float factors -> (N, K) int64 labels: categorical columns (:func:`is_categorical`)
    as their values, every other column cut into ``bins`` equal-width bins over [min, max]."""
    f = np.asarray(factors.detach().cpu() if isinstance(factors, torch.Tensor) else factors, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"factors must be (N, K), got shape {f.shape}")
    out = np.empty(f.shape, dtype=np.int64)
    for k in range(f.shape[1]):
        col = f[:, k]
        out[:, k] = col.round().astype(np.int64) if is_categorical(col, bins) else discretize(col[:, None], bins)[:, 0]
    return out


def categorical_columns(factors: np.ndarray | torch.Tensor) -> tuple[int, ...]:
    """Indices of the categorical columns of (N, K) ``factors`` (for :func:`vae.metrics.factor_correlations`)."""
    f = np.asarray(factors.detach().cpu() if isinstance(factors, torch.Tensor) else factors)
    return tuple(k for k in range(f.shape[1]) if is_categorical(f[:, k]))


def factor_report(model: VAE, data: ImageData, seed: int = 0, factor_bins: int = FACTOR_BINS,
                  latent_bins: int = LATENT_BINS) -> dict:
    """MIG, SAP and DCI of ``model``'s posterior means on ``data`` (which must have factors),
    plus the (D, K) factor correlation matrix (:func:`vae.metrics.factor_correlations`).

    Returns the five scores of :func:`vae.disentangle.disentanglement_report` (floats in [0, 1]),
    ``correlation`` (D, K) list of lists, ``factor_names``, ``n``, ``seed``, ``factor_bins`` and
    ``latent_bins``. Raises ValueError when ``data`` has no factors or too few to score.
    """
    if data.factors is None or not data.factor_names:
        raise ValueError(f"the dataset {data.name} has no known factors of variation")
    means = explore.encode_dataset(model, data).mean  # (N, D); passes the labels to a conditional model
    labels = discretize_factors(data.factors, factor_bins)
    scores = disentanglement_report(means, labels, bins=latent_bins, seed=seed)
    corr = factor_correlations(means, data.factors, categorical=categorical_columns(data.factors))
    return {**scores, "correlation": [[round(float(c), 4) for c in row] for row in corr.tolist()],
            "factor_names": list(data.factor_names), "n": len(data), "seed": seed,
            "factor_bins": factor_bins, "latent_bins": latent_bins}


def format_report(report: dict) -> str:
    """The scores of :func:`factor_report` as aligned text lines, one metric per line."""
    width = max(len(name) for name in METRIC_NAMES.values())
    lines = [f"disentanglement vs factors ({', '.join(report['factor_names'])}; continuous ones in "
             f"{report['factor_bins']} bins), {report['n']} images, seed {report['seed']}:"]
    lines += [f"{name:<{width}}  {report[key]:.3f}" for key, name in METRIC_NAMES.items()]
    return "\n".join(lines)
