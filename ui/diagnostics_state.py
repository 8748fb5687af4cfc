"""The Diagnostics page's computations, cached once per model version (path + mtime) and shared
by every session: 30 students opening the page cost one computation per model.

Numbers come from the model's card (``metrics.json``) when it has them, else they are computed
here through the library (:mod:`vae.metrics`, :mod:`vae.explore`, :mod:`vae.factors`), which
pass a class-conditional model its labels.
"""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from ui import fig_diagnostics, figures, state
from vae import explore, factors
from vae.data.base import ImageData
from vae.metrics import ACTIVE_THRESHOLD, evaluate

USAGE_KEYS = ("kl_per_dim", "activity_per_dim", "active_units", "n")
BOUND_KEYS = ("neg_elbo", "recon", "kl", "iwae_nll", "iwae_k", "n")
BOUND_IMAGES, BOUND_K = 500, 50  # the IWAE bound when the card has none: first 500 test images, k = 50
WORST = 8  # worst-reconstructed test images shown
BATCH = 1000
SEED = 0


def _card(path: str, mtime: float) -> dict:
    return state.load_checkpoint(path, mtime).metrics or {}


@st.cache_data(show_spinner=False, max_entries=16)
def usage(path: str, mtime: float, dataset: str) -> dict:
    """KL per dimension (D,), activity per dimension (D,) and active units on the test split, with
    ``source`` = "card" (from metrics.json) or "computed" (one pass over the test split, seed 0)."""
    card = _card(path, mtime)
    if all(k in card for k in USAGE_KEYS):
        return {**{k: card[k] for k in USAGE_KEYS}, "source": "card"}
    m = evaluate(state.load_checkpoint(path, mtime).model, state.load_data(dataset), seed=SEED)
    return {**{k: m[k] for k in USAGE_KEYS}, "source": "computed"}


@st.cache_data(show_spinner=False, max_entries=16)
def bounds(path: str, mtime: float, dataset: str) -> dict:
    """−ELBO (reconstruction + KL) and the IWAE estimate of −log p(x), in nats per image, with
    ``source``: "card", or "computed" on the first ``BOUND_IMAGES`` test images with k = ``BOUND_K``
    (both bounds on the same images, so their gap is meaningful)."""
    card = _card(path, mtime)
    if all(k in card for k in BOUND_KEYS):
        return {**{k: card[k] for k in BOUND_KEYS}, "source": "card"}
    data = state.load_data(dataset)
    head = data.subset(torch.arange(min(BOUND_IMAGES, len(data))))
    m = evaluate(state.load_checkpoint(path, mtime).model, head, iwae_k=BOUND_K, seed=SEED)
    return {**{k: m[k] for k in BOUND_KEYS}, "source": "computed"}


def _labels(model: torch.nn.Module, data: ImageData, part: slice | torch.Tensor) -> dict:
    """``labels=`` for a class-conditional model (its test images' own classes), nothing otherwise."""
    return {"labels": data.labels[part]} if getattr(model, "num_classes", 0) else {}


@st.cache_data(show_spinner=False, max_entries=16)
def errors(path: str, mtime: float, dataset: str) -> dict[str, np.ndarray]:
    """Per test image (N,): ``recon`` = −log p(x|z) and ``kl`` = KL(q(z|x) || p(z)) in nats, for one
    posterior sample z per image (seed 0; :func:`vae.explore.elbo_parts`), batched."""
    model, data = state.load_checkpoint(path, mtime).model, state.load_data(dataset)
    generator = state.generator(SEED)
    recon, kl = [], []
    for start in range(0, len(data), BATCH):
        part = slice(start, start + BATCH)
        r, k = explore.elbo_parts(model, data.float_images(part), generator, samples=1, **_labels(model, data, part))
        recon.append(r)
        kl.append(k)
    return {"recon": torch.cat(recon).numpy(), "kl": torch.cat(kl).numpy()}


@st.cache_data(show_spinner=False, max_entries=16)
def worst(path: str, mtime: float, dataset: str, k: int = WORST) -> dict:
    """The ``k`` test images with the largest reconstruction error: ``png`` (originals above their
    reconstructions from the posterior mean), ``ids`` (their test-set ids), ``recon`` (their errors)."""
    err = errors(path, mtime, dataset)["recon"]
    order = np.argsort(-err, kind="stable")[:k]
    model, data = state.load_checkpoint(path, mtime).model, state.load_data(dataset)
    index = torch.from_numpy(order.copy())
    x = data.float_images(index)
    mosaic = fig_diagnostics.worst_mosaic(x, explore.reconstruct(model, x, **_labels(model, data, index)))
    return {"png": figures.png_bytes(mosaic), "ids": data.ids[index].tolist(), "recon": err[order].tolist()}


@st.cache_data(show_spinner=False, max_entries=16)
def disentanglement(path: str, mtime: float, dataset: str) -> dict:
    """MIG, SAP, DCI and the (D, K) factor correlations of :func:`vae.factors.factor_report` on the
    test split (seed 0); the dataset must have factors."""
    return factors.factor_report(state.load_checkpoint(path, mtime).model, state.load_data(dataset), seed=SEED)


__all__ = ["ACTIVE_THRESHOLD", "BOUND_IMAGES", "BOUND_K", "WORST", "bounds", "disentanglement", "errors", "usage",
           "worst"]
