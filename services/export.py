"""Export a VAE's decoder for a forward pass outside PyTorch (the app's in-browser decoder).

The export is a small JSON-able layer spec plus one little-endian buffer holding every weight
and bias, in the order the spec names them (``[offset, count]`` in values, not bytes):

    {"format": "vae-latent-lab/decoder", "version": 3, "latent_dim": D, "classes": K,
     "image_shape": [C, H, W], "output": "sigmoid" | "clamp", "params": N,
     "dtype": "float16" | "float32",
     "layers": [{"op": "linear", "in": a, "out": b, "weight": [o, a*b], "bias": [o, b] | null},
                {"op": "relu"} | {"op": "elu", "alpha": 1.0} | {"op": "silu"},
                {"op": "reshape", "shape": [C, H, W]},
                {"op": "deconv", "in_ch": ..., "out_ch": ..., "in_hw": [h, w], "out_hw": [h, w],
                 "kernel": [kh, kw], "stride": [sh, sw], "padding": [ph, pw],
                 "weight": [o, in_ch*out_ch*kh*kw], "bias": [o, out_ch] | null}]}

``classes`` is 0 for an unconditional decoder. For a class-conditional one (K > 0) the decoder's
input is z followed by the one-hot vector of the chosen class (D + K values: the first linear
layer has ``in`` = D + K), as in :meth:`vae.models.VAE.decode`.

Linear weights are (out, in) row-major as in ``nn.Linear``; transposed-convolution weights
are (in_ch, out_ch, kh, kw) as in ``nn.ConvTranspose2d``, whose output is

    y[o, i*s - p + k] += x[c, i] * W[c, o, k]   (per axis), plus bias[o],

cropped to ``out_hw`` = (in - 1) * s - 2p + k + output_padding. The last layer gives the
likelihood parameters (C*H*W values, channel-major); ``output`` turns them into the mean
image: ``sigmoid`` for a Bernoulli decoder (logits), ``clamp`` to [0, 1] for a Gaussian one.

``dtype`` is ``float16`` (IEEE half precision, 2 bytes a value) when every weight is exactly a
float16 number, as in the shipped models (stored as float16 by ``vae/ship.py``), so the halved
buffer decodes to the very same float32 weights; else ``float32``. Version 1 had no ``dtype``
(always float32); versions 1 and 2 had no ``classes`` (always unconditional). Pure torch:
anything else raises :class:`UnsupportedDecoder`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vae.models import VAE, ConvDecoder, MLPDecoder

FORMAT = "vae-latent-lab/decoder"
VERSION = 3
DTYPES = {"float16": "<f2", "float32": "<f4"}  # spec dtype -> little-endian numpy dtype
MAX_PARAMS = 4_000_000  # 16 MB of float32: more is too much to push to a browser per model


class UnsupportedDecoder(ValueError):
    """The decoder cannot be exported (an unknown layer, or too large); the message says why."""


@dataclass
class ExportedDecoder:
    """``spec`` (JSON-able dict, see the module doc) and ``weights`` (little-endian bytes of
    ``spec["dtype"]``: float16 or float32)."""

    spec: dict[str, Any]
    weights: bytes
    _digest: str = field(default="", repr=False)

    @property
    def model_id(self) -> str:
        """A short content hash of spec and weights: equal ids mean the same decoder."""
        if not self._digest:
            h = hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode())
            h.update(self.weights)
            self._digest = h.hexdigest()[:16]
        return self._digest


class _Writer:
    """Collects tensors into one buffer and records where each one went; float16 when every
    value round-trips through it exactly, else float32."""

    def __init__(self) -> None:
        self.parts: list[torch.Tensor] = []
        self.count = 0

    def add(self, t: torch.Tensor | None) -> list[int] | None:
        if t is None:
            return None
        flat = t.detach().to(torch.float32).cpu().contiguous().reshape(-1)
        self.parts.append(flat)
        where = [self.count, int(flat.numel())]
        self.count += int(flat.numel())
        return where

    def values(self) -> torch.Tensor:
        return torch.cat(self.parts) if self.parts else torch.zeros(0)

    def dtype(self) -> str:
        """"float16" when every value is exactly a float16 number (NaN never is), else "float32"."""
        values = self.values()
        return "float16" if torch.equal(values.to(torch.float16).to(torch.float32), values) else "float32"

    def tobytes(self, dtype: str) -> bytes:
        return self.values().numpy().astype(DTYPES[dtype]).tobytes()


def _activation(module: nn.Module) -> dict[str, Any] | None:
    if isinstance(module, nn.ReLU):
        return {"op": "relu"}
    if isinstance(module, nn.ELU):
        return {"op": "elu", "alpha": float(module.alpha)}
    if isinstance(module, nn.SiLU):
        return {"op": "silu"}
    return None


def _pair(v: int | tuple[int, ...]) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]


def _deconv(m: nn.ConvTranspose2d, shape: list[int], w: _Writer) -> tuple[dict[str, Any], list[int]]:
    """One transposed convolution applied to a (C, H, W) ``shape``: its layer dict and output shape."""
    if m.groups != 1 or _pair(m.dilation) != [1, 1] or m.padding_mode != "zeros":
        raise UnsupportedDecoder("a transposed convolution with groups, dilation or non-zero padding mode")
    if len(shape) != 3 or shape[0] != m.in_channels:
        raise UnsupportedDecoder(f"a transposed convolution expecting {m.in_channels} channels gets shape {shape}")
    k, s, p, op = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding), _pair(m.output_padding)
    out_hw = [(shape[1 + i] - 1) * s[i] - 2 * p[i] + k[i] + op[i] for i in range(2)]
    layer = {"op": "deconv", "in_ch": m.in_channels, "out_ch": m.out_channels, "in_hw": shape[1:],
             "out_hw": out_hw, "kernel": k, "stride": s, "padding": p,
             "weight": w.add(m.weight), "bias": w.add(m.bias)}
    return layer, [m.out_channels, *out_hw]


def _sequential(seq: nn.Module, shape: list[int], w: _Writer, layers: list[dict[str, Any]],
                spatial: dict[type, Any] | None = None, error: type[Exception] = UnsupportedDecoder) -> list[int]:
    """Append the layers of ``seq`` (an nn.Sequential) to ``layers``; returns the output shape.
    ``spatial`` maps the (transposed) convolution types allowed to their handler ``(m, shape, w)
    -> (layer, shape)`` (default: the decoder's transposed convolution); ``error`` is raised for
    anything else (the encoder's export passes its own)."""
    spatial = {nn.ConvTranspose2d: _deconv} if spatial is None else spatial
    if not isinstance(seq, nn.Sequential):
        raise error(f"expected an nn.Sequential, found {type(seq).__name__}")
    for m in seq:
        act = _activation(m)
        if act is not None:
            layers.append(act)
        elif isinstance(m, nn.Linear):
            if shape != [m.in_features]:
                raise error(f"a linear layer of {m.in_features} inputs gets shape {shape}")
            layers.append({"op": "linear", "in": m.in_features, "out": m.out_features,
                           "weight": w.add(m.weight), "bias": w.add(m.bias)})
            shape = [m.out_features]
        elif type(m) in spatial:
            layer, shape = spatial[type(m)](m, shape, w)
            layers.append(layer)
        else:
            raise error(f"the layer type {type(m).__name__} is not supported in the browser")
    return shape


def _reshape(shape: list[int], to: tuple[int, ...], layers: list[dict[str, Any]]) -> list[int]:
    n = 1
    for s in to:
        n *= int(s)
    if shape != [n]:
        raise UnsupportedDecoder(f"cannot reshape {shape} to {list(to)}")
    layers.append({"op": "reshape", "shape": [int(s) for s in to]})
    return [int(s) for s in to]


def check_size(module: nn.Module, what: str, max_params: int | None, error: type[Exception]) -> None:
    """Raise ``error`` when ``module`` has more than ``max_params`` (default :data:`MAX_PARAMS`)
    parameters: more than a page should download."""
    limit = MAX_PARAMS if max_params is None else max_params
    n_params = sum(p.numel() for p in module.parameters())
    if n_params > limit:
        raise error(f"the {what} has {n_params:,} parameters, more than the {limit:,} that are sent to the browser")


def export_decoder(model: VAE, max_params: int | None = None) -> ExportedDecoder:
    """The decoder of ``model`` (MLP or conv, unconditional or class-conditional, see
    :mod:`vae.models`) as spec + weights (float16 when they are exactly float16 numbers, else float32).

    Raises :class:`UnsupportedDecoder` for other decoder types or layers, or when the decoder
    has more than ``max_params`` (default :data:`MAX_PARAMS`) parameters.
    """
    dec = model.decoder
    check_size(dec, "decoder", max_params, UnsupportedDecoder)
    cfg = model.config
    w, layers = _Writer(), []
    shape = [cfg.latent_dim + cfg.num_classes]  # z, then the one-hot class of a conditional model
    if isinstance(dec, MLPDecoder):
        shape = _sequential(dec.net, shape, w, layers)
    elif isinstance(dec, ConvDecoder):
        shape = _sequential(dec.fc, shape, w, layers)
        shape = _reshape(shape, dec.start, layers)
        shape = _sequential(dec.deconv, shape, w, layers)
    else:
        raise UnsupportedDecoder(f"the decoder type {type(dec).__name__} is not supported in the browser")
    if shape not in ([cfg.num_pixels], list(cfg.image_shape)):
        raise UnsupportedDecoder(f"the decoder ends with shape {shape}, not the image shape {list(cfg.image_shape)}")
    output = {"bernoulli": "sigmoid", "gaussian": "clamp"}.get(cfg.likelihood)
    if output is None:
        raise UnsupportedDecoder(f"the likelihood {cfg.likelihood!r} is not supported in the browser")
    spec = {"format": FORMAT, "version": VERSION, "latent_dim": cfg.latent_dim, "classes": cfg.num_classes,
            "image_shape": list(cfg.image_shape), "output": output, "params": w.count, "dtype": w.dtype(),
            "layers": layers}
    return ExportedDecoder(spec=spec, weights=w.tobytes(spec["dtype"]))
