"""Disentanglement metrics for latent codes against known discrete factors of variation.

Inputs everywhere: ``codes`` (N, D) float posterior means, ``factors`` (N, K) integer factor values.
Logarithms are natural (nats) unless a formula says otherwise; all splits use an explicit seed.

MIG (Chen et al. 2018, eq. 6):  MIG = 1/K sum_k (I(z_j(k); v_k) - max_{j != j(k)} I(z_j; v_k)) / H(v_k),
    j(k) = argmax_j I(z_j; v_k), I estimated from a joint histogram of binned z_j and v_k.
SAP (Kumar et al. 2018, sec. 3):  S_jk = score of predicting v_k from z_j alone;
    SAP = 1/K sum_k (S_(1)k - S_(2)k), the gap between the two best latents for each factor.
DCI (Eastwood & Williams 2018, sec. 2):  R (D, K) importances of z_j for predicting v_k;
    P_jk = R_jk / sum_k R_jk,  D_j = 1 - H_K(P_j.),  D = sum_j rho_j D_j,  rho_j = sum_k R_jk / sum_jk R_jk;
    P~_jk = R_jk / sum_j R_jk, C_k = 1 - H_D(P~_.k), C = 1/K sum_k C_k;  I = held-out prediction quality.
"""
from __future__ import annotations

import numpy as np
import torch

MIN_SAMPLES = 10


def _as_array(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _check(codes: np.ndarray | torch.Tensor, factors: np.ndarray | torch.Tensor,
           min_latents: int = 1, min_factors: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return (codes float64 (N, D), factors as class indices int64 (N, K))."""
    z, v = _as_array(codes), _as_array(factors)
    if z.ndim != 2 or v.ndim != 2:
        raise ValueError(f"codes and factors must be 2-D (N, D) and (N, K), got shapes {z.shape} and {v.shape}")
    if z.shape[0] != v.shape[0]:
        raise ValueError(f"codes and factors must have the same N, got {z.shape[0]} and {v.shape[0]}")
    if z.shape[0] < MIN_SAMPLES:
        raise ValueError(f"need at least {MIN_SAMPLES} samples, got N={z.shape[0]}")
    if z.shape[1] < min_latents:
        raise ValueError(f"need at least {min_latents} latent dimensions, got D={z.shape[1]}")
    if v.shape[1] < min_factors:
        raise ValueError(f"need at least {min_factors} factors, got K={v.shape[1]}")
    z = z.astype(np.float64)
    if not np.isfinite(z).all():
        raise ValueError("codes contain NaN or infinite values")
    if not (np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.bool_)):
        raise ValueError(f"factors must be an integer array of discrete values, got dtype {v.dtype}")
    labels = np.empty(v.shape, dtype=np.int64)
    for k in range(v.shape[1]):
        values, labels[:, k] = np.unique(v[:, k], return_inverse=True)
        if len(values) < 2:
            raise ValueError(f"factor {k} is constant (single value {values[0]}); it carries no information")
    return z, labels


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random (train, test) index split of range(n); both parts non-empty."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(n - 1, max(1, round(n * test_fraction)))
    return order[n_test:], order[:n_test]


def discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Per-column equal-width binning of (N, D) ``codes`` into labels 0..bins-1, (N, D) int64.

    As disentanglement_lib's ``_histogram_discretize``: edges from ``np.histogram(z_j, bins)``
    over [min z_j, max z_j]; a constant column falls in a single bin.
    """
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    z = np.asarray(codes, dtype=np.float64)
    out = np.empty(z.shape, dtype=np.int64)
    for j in range(z.shape[1]):
        edges = np.histogram(z[:, j], bins)[1]
        out[:, j] = np.digitize(z[:, j], edges[:-1]) - 1
    return out


def entropy(labels: np.ndarray) -> float:
    """Plug-in entropy H(a) = -sum_a p(a) log p(a) in nats of a (N,) array of discrete labels."""
    _, counts = np.unique(labels, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in I(a; b) = sum_ab p(a, b) log(p(a, b) / (p(a) p(b))) in nats of two (N,) label arrays."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1.0)
    joint /= joint.sum()
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / outer[nz])).sum())


def mig(codes: np.ndarray | torch.Tensor, factors: np.ndarray | torch.Tensor, bins: int = 20) -> dict:
    """Mutual Information Gap (Chen et al. 2018, eq. 6) with ``bins`` equal-width bins per latent.

    Returns ``score`` (float in [0, 1]), ``per_factor`` (K,) normalised gaps,
    ``mi`` (D, K) normalised MI I(z_j; v_k) / H(v_k) and ``entropy`` (K,) H(v_k) in nats.
    """
    z, v = _check(codes, factors, min_latents=2)
    binned = discretize(z, bins)
    h = np.array([entropy(v[:, k]) for k in range(v.shape[1])])
    mi = np.array([[mutual_information(binned[:, j], v[:, k]) for k in range(v.shape[1])]
                   for j in range(z.shape[1])]) / h
    top2 = np.sort(mi, axis=0)[-2:]
    gaps = top2[1] - top2[0]
    return {"score": float(gaps.mean()), "per_factor": gaps, "mi": mi, "entropy": h}


def _nearest_mean_accuracy(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray) -> float:
    """Accuracy on (z_test, y_test) of a 1-D nearest-class-mean classifier fit on (z_train, y_train), all (n,)."""
    classes = np.unique(y_train)
    means = np.array([z_train[y_train == c].mean() for c in classes])
    predicted = classes[np.abs(z_test[:, None] - means[None, :]).argmin(axis=1)]
    return float((predicted == y_test).mean())


def sap(codes: np.ndarray | torch.Tensor, factors: np.ndarray | torch.Tensor,
        test_fraction: float = 0.5, seed: int = 0) -> dict:
    """Separated Attribute Predictability (Kumar et al. 2018, sec. 3), dependency-free discrete variant.

    For each (latent j, factor k), S_jk is the held-out accuracy of predicting v_k from z_j alone with a
    1-D nearest-class-mean classifier (class means of z_j fit on the train split; equivalent to thresholds
    at the midpoints between sorted class means). Kumar et al. use a threshold classifier's balanced
    accuracy and disentanglement_lib (``continuous=False``) a linear SVM's plain accuracy; this uses plain
    accuracy. SAP = 1/K sum_k (S_(1)k - S_(2)k). The split is a seeded permutation (``seed``).

    Returns ``score``, ``per_factor`` (K,) gaps and ``matrix`` (D, K) of accuracies S_jk.
    """
    z, v = _check(codes, factors, min_latents=2)
    train, test = _split(len(z), test_fraction, seed)
    scores = np.array([[_nearest_mean_accuracy(z[train, j], v[train, k], z[test, j], v[test, k])
                        for k in range(v.shape[1])] for j in range(z.shape[1])])
    top2 = np.sort(scores, axis=0)[-2:]
    gaps = top2[1] - top2[0]
    return {"score": float(gaps.mean()), "per_factor": gaps, "matrix": scores}


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge weights w (D,) minimising |y - x w|^2 / n + alpha |w|^2 for centred x (n, D), y (n,)."""
    n, d = x.shape
    return np.linalg.solve(x.T @ x / n + alpha * np.eye(d), x.T @ y / n)


def _normalised_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy in log-base ``base`` of each column of a column-stochastic (M, C) array, (C,)."""
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=0) / np.log(base)


def dci(codes: np.ndarray | torch.Tensor, factors: np.ndarray | torch.Tensor,
        alpha: float = 1e-3, test_fraction: float = 0.5, seed: int = 0) -> dict:
    """DCI disentanglement, completeness, informativeness (Eastwood & Williams 2018) with a ridge regressor.

    Regressor (dependency-free; the paper used Lasso and random forests): each factor, as its ordinal class
    index 0..C_k-1, is standardised and regressed by ridge (penalty ``alpha``) on the codes standardised
    with the train split's mean and std; R_jk = |w_jk|, the standardised coefficient magnitude.
    Disentanglement D = sum_j rho_j (1 - H_K(P_j.)), completeness C = 1/K sum_k (1 - H_D(P~_.k)) (module
    docstring); informativeness = 1/K sum_k max(0, 1 - MSE_k / Var_k) on the held-out split (held-out R^2,
    0 at chance). Latents with zero total importance get weight 0; the split is seeded by ``seed``.

    Returns ``disentanglement``, ``completeness``, ``informativeness`` (floats), ``importance`` (D, K),
    ``per_latent_disentanglement`` (D,), ``per_factor_completeness`` (K,) and ``per_factor_informativeness`` (K,).
    """
    z, v = _check(codes, factors, min_latents=2, min_factors=2)
    train, test = _split(len(z), test_fraction, seed)
    mean, std = z[train].mean(axis=0), z[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x_train, x_test = (z[train] - mean) / std, (z[test] - mean) / std
    importance = np.zeros((z.shape[1], v.shape[1]))
    info = np.zeros(v.shape[1])
    for k in range(v.shape[1]):
        y = v[:, k].astype(np.float64)
        y_mean, y_std = y[train].mean(), y[train].std()
        y_std = y_std if y_std > 0 else 1.0
        w = _ridge(x_train, (y[train] - y_mean) / y_std, alpha)
        importance[:, k] = np.abs(w)
        residual = (y[test] - y_mean) / y_std - x_test @ w
        target_var = (y[test] / y_std).var()
        target_var = target_var if target_var > 0 else 1.0  # one class in the test split: train's unit variance
        info[k] = max(0.0, 1.0 - float((residual ** 2).mean()) / target_var)
    return {**_dci_scores(importance), "informativeness": float(info.mean()),
            "importance": importance, "per_factor_informativeness": info}


def _dci_scores(importance: np.ndarray) -> dict:
    """Disentanglement and completeness (Eastwood & Williams 2018, sec. 2) of an importance matrix (D, K)."""
    d, k = importance.shape
    row = importance.sum(axis=1)
    col = importance.sum(axis=0)
    per_latent = 1.0 - _normalised_entropy((importance / np.where(row > 0, row, 1.0)[:, None]).T, k)
    per_latent = np.where(row > 0, per_latent, 0.0)
    rho = row / row.sum() if row.sum() > 0 else np.zeros(d)
    per_factor = 1.0 - _normalised_entropy(importance / np.where(col > 0, col, 1.0)[None, :], d)
    per_factor = np.where(col > 0, per_factor, 0.0)
    return {"disentanglement": float((rho * per_latent).sum()), "completeness": float(per_factor.mean()),
            "per_latent_disentanglement": per_latent, "per_factor_completeness": per_factor}


def disentanglement_report(codes: np.ndarray | torch.Tensor, factors: np.ndarray | torch.Tensor,
                           bins: int = 20, seed: int = 0) -> dict:
    """MIG, SAP and DCI of (N, D) ``codes`` against (N, K) integer ``factors``, as plain floats.

    Keys: ``mig``, ``sap``, ``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness``.
    """
    m, s, d = mig(codes, factors, bins), sap(codes, factors, seed=seed), dci(codes, factors, seed=seed)
    return {"mig": m["score"], "sap": s["score"], "dci_disentanglement": d["disentanglement"],
            "dci_completeness": d["completeness"], "dci_informativeness": d["informativeness"]}
