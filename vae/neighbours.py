"""Nearest neighbours and attribute arithmetic in latent space (pure torch, no UI).

Codes are posterior means mu(x) (N, D), as :func:`vae.explore.encode_dataset` returns them.

- :func:`nearest`: the k codes closest to a query, by Euclidean or cosine distance, ties broken
  by the lower index, so the answer is the same on every run and machine.
- :func:`class_means`, :func:`attribute_vector`, :func:`attribute_vector_from_sets`: an
  *attribute vector* is the difference of two mean codes, v = mean(B) - mean(A) ("smile
  vectors", White 2016, *Sampling Generative Networks*; the word-vector analogy of Mikolov et
  al. 2013). Adding it to a code, :func:`apply_attribute`, moves the code from "A-ness" towards
  "B-ness": z' = z + s v.
- :func:`ink_sets`: a simple, documented stand-in for "stroke thickness": within each class, the
  images with the least and the most ink (mean pixel intensity).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

METRICS = ("euclidean", "cosine")
_CHUNK = 4_000_000  # elements of one (Q, N, D) difference block


def _as_2d(query: torch.Tensor, means: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    q = torch.as_tensor(query, dtype=torch.float64)
    m = torch.as_tensor(means, dtype=torch.float64)
    if m.dim() != 2:
        raise ValueError(f"means must be (N, D), got shape {tuple(m.shape)}")
    single = q.dim() == 1
    q = q.reshape(1, -1) if single else q
    if q.dim() != 2 or q.shape[1] != m.shape[1]:
        raise ValueError(f"query must be (D,) or (Q, D) with D = {m.shape[1]}, got shape {tuple(q.shape)}")
    if not (torch.isfinite(q).all() and torch.isfinite(m).all()):
        raise ValueError("query and means must be finite numbers")
    return q, m, single


def _unit(x: torch.Tensor, what: str) -> torch.Tensor:
    """Rows of ``x`` (R, D) scaled to length 1; a zero row has no direction: ValueError."""
    norm = x.norm(dim=1, keepdim=True)
    zero = torch.nonzero(norm.reshape(-1) == 0).reshape(-1)
    if len(zero):
        raise ValueError(f"cosine distance is undefined for a zero vector ({what} row {int(zero[0])} is all zeros)")
    return x / norm


def distances(query: torch.Tensor, means: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """(Q, N) float64 distances from each query row (Q, D) to each code (N, D).

    euclidean: d(q, m) = ||q - m||_2.
    cosine:    d(q, m) = 1 - cos(q, m) = 1 - q.m / (|q| |m|), in [0, 2], computed as
               ||q/|q| - m/|m|||^2 / 2 (the same number; exact 0 for parallel vectors).
    Differences are taken directly (not via |q|^2 + |m|^2 - 2 q.m), so equal codes give
    bit-identical distances and an exact 0 to themselves."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    q, m, _ = _as_2d(query, means)
    if metric == "cosine":
        q, m = _unit(q, "query"), _unit(m, "means")
    step = max(1, _CHUNK // max(1, m.shape[0] * m.shape[1]))
    rows = [(q[i:i + step, None, :] - m[None, :, :]).pow(2).sum(dim=2) for i in range(0, len(q), step)]
    sq = torch.cat(rows) if rows else torch.zeros(0, m.shape[0], dtype=torch.float64)
    return sq / 2 if metric == "cosine" else sq.sqrt()


def nearest(query: torch.Tensor, means: torch.Tensor, k: int, metric: str = "euclidean",
            exclude: Sequence[int] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` codes of ``means`` (N, D) nearest to ``query`` (D,) or (Q, D).

    Returns ``(indices, distances)``: int64 and float64, each (k,) for a (D,) query or (Q, k),
    nearest first (distances from :func:`distances`). Exact ties go to the lower index (a
    stable sort), so results are deterministic. Positions in ``exclude`` (e.g. the query's own
    position in ``means``) are never returned. ValueError when k is not in 1..N - len(exclude),
    an excluded position is out of range, or a vector is zero under the cosine metric."""
    q, m, single = _as_2d(query, means)
    n = m.shape[0]
    skip = sorted({int(i) for i in exclude})
    if skip and (skip[0] < 0 or skip[-1] >= n):
        raise ValueError(f"exclude positions must be in 0..{n - 1}, got {skip[0] if skip[0] < 0 else skip[-1]}")
    available = n - len(skip)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= available:
        raise ValueError(f"k must be an integer from 1 to {available} (the codes to choose from), got {k!r}")
    d = distances(q, m, metric)
    if skip:
        d[:, skip] = float("inf")
    order = torch.sort(d, dim=1, stable=True).indices[:, :k]
    dist = torch.gather(d, 1, order)
    return (order[0], dist[0]) if single else (order, dist)


def class_means(means: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """(K, D) mean code of each class: row c = (1/|S_c|) sum_{i in S_c} mu_i, S_c = {i : label_i = c}.

    ``labels`` (N,) are class indices 0..K-1; K is ``num_classes`` (default: largest label + 1).
    A class without images has a row of NaN."""
    m = torch.as_tensor(means, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    if m.dim() != 2 or y.shape[0] != m.shape[0]:
        raise ValueError(f"means (N, D) and labels (N,) must match, got {tuple(m.shape)} and {tuple(y.shape)}")
    k = int(num_classes) if num_classes is not None else (int(y.max()) + 1 if len(y) else 0)
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
        raise ValueError(f"labels must be in 0..{k - 1}")
    sums = torch.zeros(k, m.shape[1], dtype=torch.float64).index_add_(0, y, m)
    counts = torch.bincount(y, minlength=k).to(torch.float64).reshape(-1, 1)
    return sums / counts  # 0/0 = NaN for an empty class


def _set_mean(means: torch.Tensor, idx: Sequence[int] | torch.Tensor, name: str) -> torch.Tensor:
    pos = torch.as_tensor(list(idx) if not isinstance(idx, torch.Tensor) else idx, dtype=torch.int64).reshape(-1)
    if len(pos) == 0:
        raise ValueError(f"{name} is empty: choose at least one image")
    n = means.shape[0]
    if int(pos.min()) < 0 or int(pos.max()) >= n:
        raise ValueError(f"{name} has positions outside 0..{n - 1}")
    return means[pos].mean(dim=0)


def attribute_vector_from_sets(means: torch.Tensor, idx_a: Sequence[int] | torch.Tensor,
                               idx_b: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """(D,) float64 vector from set A to set B: v = mean_{i in B} mu_i - mean_{i in A} mu_i.

    ``idx_a``, ``idx_b`` are positions in ``means`` (N, D); ValueError when one is empty or out
    of range. The sets may overlap (shared images cancel out of the difference)."""
    m = torch.as_tensor(means, dtype=torch.float64)
    if m.dim() != 2:
        raise ValueError(f"means must be (N, D), got shape {tuple(m.shape)}")
    return _set_mean(m, idx_b, "set B") - _set_mean(m, idx_a, "set A")


def attribute_vector(means: torch.Tensor, labels: torch.Tensor, from_class: int, to_class: int) -> torch.Tensor:
    """(D,) float64 vector from one class to another: v = mean code of ``to_class`` - mean code
    of ``from_class`` (e.g. 4 -> 9: z + v moves a 4's code by the average 4-to-9 displacement).
    ValueError when either class has no images in ``labels`` (N,)."""
    y = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    sets = []
    for c in (from_class, to_class):
        pos = torch.nonzero(y == int(c)).reshape(-1)
        if len(pos) == 0:
            raise ValueError(f"there are no images of class {c} to average")
        sets.append(pos)
    return attribute_vector_from_sets(means, sets[0], sets[1])


def apply_attribute(z: torch.Tensor, vector: torch.Tensor, strength: float | torch.Tensor) -> torch.Tensor:
    """z' = z + s v for a code ``z`` (D,) or (N, D) and a vector ``vector`` (D,), in float32.

    ``strength`` s is a number (same shape as ``z`` out) or, for a (D,) ``z``, a (S,) tensor
    of strengths: (S, D), one code per strength (a strip)."""
    z = torch.as_tensor(z, dtype=torch.float32)
    v = torch.as_tensor(vector, dtype=torch.float32).reshape(-1)
    if z.shape[-1] != v.shape[0]:
        raise ValueError(f"z has {z.shape[-1]} dimensions but the vector has {v.shape[0]}")
    s = torch.as_tensor(strength, dtype=torch.float32)
    if s.dim() == 0:
        return z + s * v
    if z.dim() != 1 or s.dim() != 1:
        raise ValueError("a strip of strengths (S,) needs a single code z (D,)")
    return z.reshape(1, -1) + s.reshape(-1, 1) * v.reshape(1, -1)


def ink(images: torch.Tensor) -> torch.Tensor:
    """(N,) float64 ink of uint8 or [0, 1] images (N, C, H, W): the mean pixel intensity in [0, 1]
    (white strokes on black: more ink = thicker or larger strokes)."""
    x = torch.as_tensor(images)
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    return x.reshape(len(x), -1).to(torch.float64).mean(dim=1) / scale


def ink_sets(images: torch.Tensor, labels: torch.Tensor, fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (thin, thick) of the images with the least and the most ink (:func:`ink`):
    within each class, the ``fraction`` of its images with the least ink and the same number
    with the most (at least one each; a stable sort by ink, so ties keep position order). Taking them per class
    keeps the class mix of both sets equal, so thick - thin is not "0 minus 1" (ones have
    little ink, zeros much). Each is an int64 (M,) tensor, in increasing order."""
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    amount = ink(images)
    y = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    thin, thick = [], []
    for c in torch.unique(y).tolist():
        pos = torch.nonzero(y == c).reshape(-1)
        if len(pos) < 2:
            continue
        m = max(1, int(len(pos) * fraction))
        order = pos[torch.sort(amount[pos], stable=True).indices]
        thin.append(order[:m])
        thick.append(order[-m:])
    if not thin:
        raise ValueError("ink sets need a class with at least 2 images")
    return torch.sort(torch.cat(thin)).values, torch.sort(torch.cat(thick)).values
