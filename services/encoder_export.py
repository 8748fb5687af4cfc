"""Export a VAE's encoder for a forward pass outside PyTorch (the in-browser "Draw a digit").

The same conventions as the decoder's export (:mod:`services.export`): a small JSON-able layer
spec plus one little-endian buffer holding every weight and bias, in the order the spec names
them (``[offset, count]`` in values, not bytes), float16 when every value is exactly a float16
number (the shipped models) else float32:

    {"format": "vae-latent-lab/encoder", "version": 1, "latent_dim": D,
     "image_shape": [C, H, W], "classes": K, "logvar_clamp": [-30.0, 20.0], "params": N,
     "dtype": "float16" | "float32",
     "layers": [{"op": "conv", "in_ch": ..., "out_ch": ..., "in_hw": [h, w], "out_hw": [h, w],
                 "kernel": [kh, kw], "stride": [sh, sw], "padding": [ph, pw],
                 "weight": [o, out_ch*in_ch*kh*kw], "bias": [o, out_ch] | null},
                {"op": "relu"} | {"op": "elu", "alpha": 1.0} | {"op": "silu"},
                {"op": "flatten"},
                {"op": "label", "classes": K},
                {"op": "linear", "in": a, "out": b, "weight": [o, a*b], "bias": [o, b] | null}]}

The input is one image, C*H*W values in [0, 1], channel-major (as ``x.flatten()``). Convolution
weights are (out_ch, in_ch, kh, kw) as in ``nn.Conv2d``, whose output is

    y[o, oy, ox] = bias[o] + sum_{c, ky, kx} x[c, oy*sh - ph + ky, ox*sw - pw + kx] W[o, c, ky, kx]

(zero outside the image), with out = floor((in + 2p - k) / s) + 1 per axis. ``flatten`` keeps
the channel-major order; ``label`` appends the one-hot vector of the class (K values) to the
flat features. Only class-conditional models (``cmlp``/``cconv``, ``classes`` = K > 0) have it:
right after the flattened image (MLP) or after the flattened conv features (conv), as in
:mod:`vae.models`. The last layer gives 2D values: the posterior mean (the first D) and log
variance (the last D), which is clamped to ``logvar_clamp`` as :meth:`vae.models.VAE.encode` does.
Pure torch: anything else raises :class:`UnsupportedEncoder`.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from torch import nn

from vae.models import VAE, ConvEncoder, MLPEncoder

# The decoder export's building blocks, used read-only: the weight buffer (float16 when exact),
# the activation layers and the (h, w) pairs are the same for both halves of the model.
from .export import _pair, _Writer, check_size
from .export import _sequential as _walk

FORMAT = "vae-latent-lab/encoder"
VERSION = 1
LOGVAR_CLAMP = (-30.0, 20.0)  # as vae.models.VAE.encode


class UnsupportedEncoder(ValueError):
    """The encoder cannot be exported (an unknown layer, or too large); the message says why."""


class ExportedEncoder(NamedTuple):
    """``spec`` (JSON-able dict, see the module doc) and ``weights`` (little-endian bytes of
    ``spec["dtype"]``); unpacks as ``spec, weights = export_encoder(model)``."""

    spec: dict[str, Any]
    weights: bytes

    @property
    def model_id(self) -> str:
        """A short content hash of spec and weights: equal ids mean the same encoder."""
        h = hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode())
        h.update(self.weights)
        return h.hexdigest()[:16]


def _conv(m: nn.Conv2d, shape: list[int], w: _Writer) -> tuple[dict[str, Any], list[int]]:
    """One convolution applied to a (C, H, W) ``shape``: its layer dict and output shape."""
    if m.groups != 1 or _pair(m.dilation) != [1, 1] or m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise UnsupportedEncoder("a convolution with groups, dilation, string padding or non-zero padding mode")
    if len(shape) != 3 or shape[0] != m.in_channels:
        raise UnsupportedEncoder(f"a convolution expecting {m.in_channels} channels gets shape {shape}")
    k, s, p = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding)
    out_hw = [(shape[1 + i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(2)]
    if min(out_hw) < 1:
        raise UnsupportedEncoder(f"a convolution shrinks shape {shape} to nothing")
    layer = {"op": "conv", "in_ch": m.in_channels, "out_ch": m.out_channels, "in_hw": shape[1:],
             "out_hw": out_hw, "kernel": k, "stride": s, "padding": p,
             "weight": w.add(m.weight), "bias": w.add(m.bias)}
    return layer, [m.out_channels, *out_hw]


def _sequential(seq: nn.Module, shape: list[int], w: _Writer, layers: list[dict[str, Any]]) -> list[int]:
    """Append the layers of ``seq`` (an nn.Sequential of linear layers, convolutions and
    activations) to ``layers``; returns the output shape."""
    return _walk(seq, shape, w, layers, spatial={nn.Conv2d: _conv}, error=UnsupportedEncoder)


def _flatten(shape: list[int], classes: int, layers: list[dict[str, Any]]) -> list[int]:
    """Flatten ``shape`` and, for a conditional model, append the one-hot label."""
    n = 1
    for s in shape:
        n *= int(s)
    if len(shape) != 1:
        layers.append({"op": "flatten"})
    if classes:
        layers.append({"op": "label", "classes": classes})
    return [n + classes]


def export_encoder(model: VAE, max_params: int | None = None) -> ExportedEncoder:
    """The encoder of ``model`` (MLP or conv, conditional or not; see :mod:`vae.models`) as
    spec + weights (float16 when they are exactly float16 numbers, else float32). Its forward
    pass maps one (C, H, W) image (and a class for a conditional model) to the posterior's
    (D,) mean and (D,) log variance, as ``model.encode(x[None], y)``.

    Raises :class:`UnsupportedEncoder` for other encoder types or layers, or when the encoder
    has more than ``max_params`` (default :data:`services.export.MAX_PARAMS`) parameters.
    """
    enc = model.encoder
    check_size(enc, "encoder", max_params, UnsupportedEncoder)
    cfg = model.config
    classes = int(cfg.num_classes)
    w, layers = _Writer(), []
    if isinstance(enc, MLPEncoder):
        shape = _flatten(list(cfg.image_shape), classes, layers)
        shape = _sequential(enc.net, shape, w, layers)
    elif isinstance(enc, ConvEncoder):
        shape = _sequential(enc.conv, list(cfg.image_shape), w, layers)
        shape = _flatten(shape, classes, layers)
        shape = _sequential(enc.fc, shape, w, layers)
    else:
        raise UnsupportedEncoder(f"the encoder type {type(enc).__name__} is not supported in the browser")
    if shape != [2 * cfg.latent_dim]:
        raise UnsupportedEncoder(f"the encoder ends with shape {shape}, not the {2 * cfg.latent_dim} values "
                                 "of a posterior's mean and log variance")
    spec = {"format": FORMAT, "version": VERSION, "latent_dim": cfg.latent_dim,
            "image_shape": list(cfg.image_shape), "classes": classes, "logvar_clamp": list(LOGVAR_CLAMP),
            "params": w.count, "dtype": w.dtype(), "layers": layers}
    return ExportedEncoder(spec=spec, weights=w.tobytes(spec["dtype"]))
