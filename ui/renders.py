"""Cached renders: a model version and a page's inputs in, finished PNG/GIF bytes out.

Every function here is an ``st.cache_data`` entry keyed by the model's ``(path, mtime)`` and the
inputs a page shows, so a rerun that did not change them, and every other session asking the
same thing (the same seed, the same test image, the same grid), gets the bytes without a
decoder call or an image encode. Arguments whose names start with ``_`` are not hashed: they
carry tensors already identified by a ``key`` argument (a digest of their contents,
:func:`digest`). PNGs are encoded once here at zlib level 1 (Streamlit's own encoder, given a
PIL image, uses level 6 on every run), and ``st.image`` passes bytes through unchanged.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import streamlit as st
import torch

from vae import explore

from . import figures, state

ENTRIES = 256  # per function; a render is a few kB (a manifold up to ~200 kB)


def digest(*tensors: torch.Tensor) -> str:
    """A short content hash of tensors (their float32 bytes), to key renders of images that
    do not come from an index (uploads, prepared pictures)."""
    h = hashlib.sha1()
    for t in tensors:
        h.update(t.detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def _model(path: str, mtime: float):
    return state.load_checkpoint(path, mtime).model


def _conditional(model) -> bool:
    return bool(getattr(model, "num_classes", 0))


def _png(img: torch.Tensor | np.ndarray, size: int) -> bytes:
    return figures.png_bytes(figures.upscale(img, size))


def _grid_png(images: torch.Tensor, ncol: int, scale: int) -> bytes:
    mosaic = figures.grid(images, ncol)
    return _png(mosaic, max(mosaic.shape[:2]) * scale)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def image(key: str, _img: torch.Tensor, size: int) -> bytes:
    """One (C, H, W) image in [0, 1] (identified by ``key``), upscaled to about ``size`` px."""
    return _png(_img, size)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def images(key: str, _images: torch.Tensor, ncol: int, scale: int) -> bytes:
    """(N, C, H, W) images (identified by ``key``) as one mosaic, ``scale`` times upscaled."""
    return _grid_png(_images, ncol, scale)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def decoded(path: str, mtime: float, z: tuple[float, ...], size: int, label: int | None = None) -> bytes:
    """The decoded image of the latent ``z`` (D,) under the model at ``path`` (drawn as class
    ``label`` by a conditional model)."""
    img = explore.decode(_model(path, mtime), torch.tensor(z, dtype=torch.float32), labels=label)[0]
    return _png(img, size)


def _labels(labels: tuple[int, ...] | None) -> torch.Tensor | None:
    """Class indices (N,) as the library takes them, or None (an unconditional model)."""
    return None if labels is None else torch.tensor(labels, dtype=torch.long)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def classes_row(path: str, mtime: float, z: tuple[float, ...], k: int, scale: int) -> bytes:
    """The latent ``z`` (D,) decoded as each of the ``k`` classes of a conditional model: one
    strip of k images, ``scale`` times upscaled (the same style, every class)."""
    zs = torch.tensor(z, dtype=torch.float32).reshape(1, -1).repeat(k, 1)  # (k, D)
    imgs = explore.decode(_model(path, mtime), zs, labels=torch.arange(k))
    return _grid_png(imgs, k, scale)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def traversal(path: str, mtime: float, z: tuple[float, ...], dim: int, limit: float, n: int,
              scale: int, label: int | None = None) -> bytes:
    """Latent ``dim`` of ``z`` (D,) swept over ``n`` values from -limit to +limit: one strip
    (drawn as class ``label`` by a conditional model)."""
    strip = explore.traversal(_model(path, mtime), torch.tensor(z, dtype=torch.float32), dim,
                              torch.linspace(-limit, limit, n), label=label)
    return _grid_png(strip, n, scale)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def samples(path: str, mtime: float, seed: int, temperature: float, k: int, scale: int,
            label: int | None = None) -> bytes:
    """A k x k mosaic of prior samples z ~ N(0, T^2 I) drawn with ``seed``, ``scale`` times
    upscaled (all drawn as class ``label`` by a conditional model)."""
    imgs = explore.sample_prior(_model(path, mtime), k * k, state.generator(seed), temperature, label=label)
    return _grid_png(imgs, k, scale)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def class_samples(path: str, mtime: float, seed: int, temperature: float, k: int, classes: int,
                  scale: int) -> bytes:
    """A conditional model's ``classes`` x k mosaic: row c holds k prior draws z ~ N(0, T^2 I)
    decoded as class c; every row draws the same z with ``seed``, so a column is one z (one
    style) as every class."""
    model = _model(path, mtime)
    rows = [explore.sample_prior(model, k, state.generator(seed), temperature, label=c) for c in range(classes)]
    return _grid_png(torch.cat(rows), k, scale)


@st.cache_data(show_spinner=False, max_entries=64)
def manifold(path: str, mtime: float, dataset: str, n: int, low: float, high: float,
             width: int, label: int | None = None) -> tuple[bytes, np.ndarray]:
    """The n x n manifold grid over the Latent map's plane (about ``width`` px wide; drawn as
    class ``label`` by a conditional model) and the per-axis plane values (n, 2)."""
    model = _model(path, mtime)
    imgs, values = explore.manifold(model, state.latent_plane(path, mtime, dataset), n, low=low, high=high,
                                    label=label)
    scale = max(1, round(width / (n * (imgs.shape[-1] + 2))))
    return _grid_png(imgs, n, scale), values.numpy()


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def morph(path: str, mtime: float, key: str, _ends: torch.Tensor, method: str, steps: int,
          labels: tuple[int, int] | None = None, label: int | None = None) -> dict[str, Any]:
    """The morph between the two (C, H, W) images of ``_ends`` (2, C, H, W; identified by
    ``key``): their codes ``z`` (2, D), the strip of ``steps`` decoded steps and the two
    originals (84 px). A conditional model encodes the ends as their classes ``labels`` and
    draws every step as class ``label``."""
    model = _model(path, mtime)
    z, _ = explore.encode_images(model, _ends, labels=_labels(labels))
    frames = explore.decode(model, explore.interpolate(z[0], z[1], steps, method), labels=label)
    return {"z": z.numpy(), "strip": _grid_png(frames, steps, 2), "start": _png(_ends[0], 84),
            "end": _png(_ends[1], 84)}


@st.cache_data(show_spinner=False, max_entries=32)
def morph_gif(path: str, mtime: float, key: str, _ends: torch.Tensor, method: str, steps: int,
              labels: tuple[int, int] | None = None, label: int | None = None) -> bytes:
    """The :func:`morph` as a looping GIF, forth and back (made when a download asks for it:
    an animation costs more than the rest of a Morph run)."""
    model = _model(path, mtime)
    z, _ = explore.encode_images(model, _ends, labels=_labels(labels))
    frames = explore.decode(model, explore.interpolate(z[0], z[1], steps, method), labels=label)
    return figures.gif_bytes(frames, bounce=True)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def reconstruction(path: str, mtime: float, key: str, _x: torch.Tensor, seed: int,
                   label: int | None = None) -> dict[str, Any]:
    """For the prepared input ``_x`` (1, C, H, W; identified by ``key``): input and
    reconstruction as 196 px PNGs, −ELBO's two parts in nats (posterior samples drawn with
    ``seed``) and the posterior mean and std (D,). A conditional model encodes and decodes it
    as class ``label``."""
    model = _model(path, mtime)
    recon = explore.reconstruct(model, _x, labels=label)[0]
    rec, kl = (float(t[0]) for t in explore.elbo_parts(model, _x, state.generator(seed), labels=label))
    mean, std = explore.encode_images(model, _x, labels=label)
    return {"input": _png(_x[0], 196), "recon": _png(recon, 196), "rec_nats": rec, "kl_nats": kl,
            "mean": mean[0].numpy(), "std": std[0].numpy()}


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def selection(path: str, mtime: float, dataset: str, positions: tuple[int, ...], ncol: int) -> dict[str, bytes]:
    """Originals and reconstructions of the test images at ``positions``: one 168 px image each
    when there is one, else two mosaics of ``ncol`` columns."""
    data, idx = state.load_data(dataset), torch.tensor(positions, dtype=torch.long)
    model = _model(path, mtime)
    x = data.float_images(idx)
    recon = explore.reconstruct(model, x, labels=data.labels[idx] if _conditional(model) else None)
    if len(positions) == 1:
        return {"originals": _png(x[0], 168), "reconstructions": _png(recon[0], 168)}
    return {"originals": _grid_png(x, ncol, 2), "reconstructions": _grid_png(recon, ncol, 2)}
