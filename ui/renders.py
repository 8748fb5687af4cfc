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
def decoded(path: str, mtime: float, z: tuple[float, ...], size: int) -> bytes:
    """The decoded image of the latent ``z`` (D,) under the model at ``path``."""
    img = explore.decode(_model(path, mtime), torch.tensor(z, dtype=torch.float32))[0]
    return _png(img, size)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def traversal(path: str, mtime: float, z: tuple[float, ...], dim: int, limit: float, n: int,
              scale: int) -> bytes:
    """Latent ``dim`` of ``z`` (D,) swept over ``n`` values from -limit to +limit: one strip."""
    strip = explore.traversal(_model(path, mtime), torch.tensor(z, dtype=torch.float32), dim,
                              torch.linspace(-limit, limit, n))
    return _grid_png(strip, n, scale)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def samples(path: str, mtime: float, seed: int, temperature: float, k: int, scale: int) -> bytes:
    """A k x k mosaic of prior samples z ~ N(0, T^2 I) drawn with ``seed``, ``scale`` times upscaled."""
    imgs = explore.sample_prior(_model(path, mtime), k * k, state.generator(seed), temperature)
    return _grid_png(imgs, k, scale)


@st.cache_data(show_spinner=False, max_entries=64)
def manifold(path: str, mtime: float, dataset: str, n: int, low: float, high: float,
             width: int) -> tuple[bytes, np.ndarray]:
    """The n x n manifold grid over the Latent map's plane (about ``width`` px wide) and the
    per-axis plane values (n, 2)."""
    model = _model(path, mtime)
    imgs, values = explore.manifold(model, state.latent_plane(path, mtime, dataset), n, low=low, high=high)
    scale = max(1, round(width / (n * (imgs.shape[-1] + 2))))
    return _grid_png(imgs, n, scale), values.numpy()


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def morph(path: str, mtime: float, key: str, _ends: torch.Tensor, method: str, steps: int) -> dict[str, Any]:
    """The morph between the two (C, H, W) images of ``_ends`` (2, C, H, W; identified by
    ``key``): their codes ``z`` (2, D), the strip of ``steps`` decoded steps and the two
    originals (84 px)."""
    model = _model(path, mtime)
    z, _ = explore.encode_images(model, _ends)
    frames = explore.decode(model, explore.interpolate(z[0], z[1], steps, method))
    return {"z": z.numpy(), "strip": _grid_png(frames, steps, 2), "start": _png(_ends[0], 84),
            "end": _png(_ends[1], 84)}


@st.cache_data(show_spinner=False, max_entries=32)
def morph_gif(path: str, mtime: float, key: str, _ends: torch.Tensor, method: str, steps: int) -> bytes:
    """The :func:`morph` as a looping GIF, forth and back (made when a download asks for it:
    an animation costs more than the rest of a Morph run)."""
    model = _model(path, mtime)
    z, _ = explore.encode_images(model, _ends)
    frames = explore.decode(model, explore.interpolate(z[0], z[1], steps, method))
    return figures.gif_bytes(frames, bounce=True)


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def reconstruction(path: str, mtime: float, key: str, _x: torch.Tensor, seed: int) -> dict[str, Any]:
    """For the prepared input ``_x`` (1, C, H, W; identified by ``key``): input and
    reconstruction as 196 px PNGs, −ELBO's two parts in nats (posterior samples drawn with
    ``seed``) and the posterior mean and std (D,)."""
    model = _model(path, mtime)
    recon = explore.reconstruct(model, _x)[0]
    rec, kl = (float(t[0]) for t in explore.elbo_parts(model, _x, state.generator(seed)))
    mean, std = explore.encode_images(model, _x)
    return {"input": _png(_x[0], 196), "recon": _png(recon, 196), "rec_nats": rec, "kl_nats": kl,
            "mean": mean[0].numpy(), "std": std[0].numpy()}


@st.cache_data(show_spinner=False, max_entries=ENTRIES)
def selection(path: str, mtime: float, dataset: str, positions: tuple[int, ...], ncol: int) -> dict[str, bytes]:
    """Originals and reconstructions of the test images at ``positions``: one 168 px image each
    when there is one, else two mosaics of ``ncol`` columns."""
    x = state.load_data(dataset).float_images(torch.tensor(positions, dtype=torch.long))
    recon = explore.reconstruct(_model(path, mtime), x)
    if len(positions) == 1:
        return {"originals": _png(x[0], 168), "reconstructions": _png(recon[0], 168)}
    return {"originals": _grid_png(x, ncol, 2), "reconstructions": _grid_png(recon, ncol, 2)}
