"""Files a user can take away: the model folder as a zip, the decoder and encoder as ONNX,
the latent codes of the test set as CSV / NPZ. Bytes in memory, no Streamlit (the app caches
them per model path + mtime in ``ui/download_view.py``).

ONNX graphs come from PyTorch's TorchScript-based exporter (``dynamo=False``) at the pinned
opset :data:`OPSET`, with a dynamic batch axis:

- decoder: input ``z`` (B, D) float32 [+ ``label_onehot`` (B, K) float32 for a conditional
  model] -> ``image`` (B, C, H, W), the mean image in [0, 1] (sigmoid of the logits for a
  Bernoulli decoder, the clamped mean for a Gaussian one), as ``VAE.decode_image``;
- encoder: input ``x`` (B, C, H, W) float32 in [0, 1] [+ ``label_onehot`` (B, K)] ->
  ``mean`` and ``logvar`` (B, D) of the diagonal-Gaussian posterior q(z|x), as ``VAE.encode``.
"""
from __future__ import annotations

import copy
import io
import os
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vae.checkpoint import CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE
from vae.models import VAE

OPSET = 17  # pinned: onnxruntime >= 1.14 runs it; ConvTranspose2d with output_padding exports at 17
CARD_FILE = "README.md"
ZIP_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, METRICS_FILE)  # never training_state.safetensors
REQUIRED = (CONFIG_FILE, WEIGHTS_FILE)
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed time stamps: the same folder always gives the same bytes
_EXPORT_LOCK = threading.Lock()  # the TorchScript exporter keeps global state: one export at a time


class DownloadError(ValueError):
    """A download cannot be built (an incomplete folder, inconsistent codes); says why."""


def model_zip(path: str | os.PathLike) -> bytes:
    """The checkpoint folder ``path`` as zip bytes: ``NAME/config.json``, ``NAME/model.safetensors``
    and, when present, ``NAME/README.md`` (the card) and ``NAME/metrics.json``. Nothing else:
    no training state, no symbolic links, nothing from outside the folder."""
    folder = Path(path)
    if folder.is_symlink() or not folder.is_dir():
        raise DownloadError(f"model folder {folder.name!r} is not there")
    real = folder.resolve()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in ZIP_FILES:
            file = folder / name
            ok = file.is_file() and not file.is_symlink() and file.resolve().parent == real
            if not ok:
                if name in REQUIRED:
                    raise DownloadError(f"model folder {folder.name!r} is incomplete: {name} is missing")
                continue
            info = zipfile.ZipInfo(f"{folder.name}/{name}", date_time=ZIP_DATE)
            # weights barely compress (6% for mnist-2d at 10x the time): stored; the texts deflated
            info.compress_type = zipfile.ZIP_STORED if name == WEIGHTS_FILE else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, file.read_bytes())
    return buf.getvalue()


class _Decoder(nn.Module):
    """(B, D) latents [+ (B, K) one-hot labels] -> (B, C, H, W) mean images in [0, 1]."""

    def __init__(self, model: VAE) -> None:
        super().__init__()
        self.net, self.shape = model.decoder, model.config.image_shape
        self.bernoulli = model.config.likelihood == "bernoulli"

    def forward(self, z: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        h = z if onehot is None else torch.cat([z, onehot], dim=-1)
        out = self.net(h).reshape(-1, *self.shape)
        return torch.sigmoid(out) if self.bernoulli else out.clamp(0.0, 1.0)


class _Encoder(nn.Module):
    """(B, C, H, W) images [+ (B, K) one-hot labels] -> posterior mean and log-variance (B, D)."""

    def __init__(self, model: VAE) -> None:
        super().__init__()
        self.net = model.encoder

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.net(x, onehot).chunk(2, dim=-1)
        return mean, logvar.clamp(-30.0, 20.0)  # as VAE.encode


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], inputs: list[str], outputs: list[str]) -> bytes:
    """One ONNX graph at :data:`OPSET` with a dynamic batch axis on every input and output."""
    buf = io.BytesIO()
    axes = {name: {0: "batch"} for name in (*inputs, *outputs)}
    with _EXPORT_LOCK, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module, args, buf, dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes=axes, do_constant_folding=True)
    return buf.getvalue()


def _example_onehot(model: VAE, batch: int) -> tuple[torch.Tensor, ...]:
    k = model.num_classes
    return (torch.eye(k)[torch.arange(batch) % k],) if k else ()


def _inputs(first: str, model: VAE) -> list[str]:
    return [first, "label_onehot"] if model.num_classes else [first]


def onnx_decoder(model: VAE) -> bytes:
    """The decoder as ONNX bytes: ``z`` (B, D) [+ ``label_onehot`` (B, K)] -> ``image``
    (B, C, H, W) in [0, 1]. Works on a private copy: the (shared) model is not touched."""
    own = copy.deepcopy(model).cpu().eval()
    args = (torch.zeros(2, own.latent_dim), *_example_onehot(own, 2))
    return _export(_Decoder(own), args, _inputs("z", own), ["image"])


def onnx_encoder(model: VAE) -> bytes:
    """The encoder as ONNX bytes: ``x`` (B, C, H, W) in [0, 1] [+ ``label_onehot`` (B, K)] ->
    ``mean``, ``logvar`` (B, D). Works on a private copy: the (shared) model is not touched."""
    own = copy.deepcopy(model).cpu().eval()
    args = (torch.full((2, *own.config.image_shape), 0.5), *_example_onehot(own, 2))
    return _export(_Encoder(own), args, _inputs("x", own), ["mean", "logvar"])


def _codes(encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``encoded``'s (N, D) ``mean``/``logvar`` (float32) and (N,) ``labels``/``ids`` (int64),
    checked to fit together."""
    try:
        mean = np.asarray(encoded["mean"], dtype=np.float32)
        logvar = np.asarray(encoded["logvar"], dtype=np.float32)
        labels = np.asarray(encoded["labels"]).astype(np.int64, casting="same_kind")
        ids = np.asarray(encoded["ids"]).astype(np.int64, casting="same_kind")
    except (KeyError, TypeError, ValueError) as exc:
        raise DownloadError(f"latent codes are incomplete: {exc}") from None
    n = len(mean)
    if mean.ndim != 2 or logvar.shape != mean.shape or labels.shape != (n,) or ids.shape != (n,):
        raise DownloadError(f"latent codes do not fit together: mean {mean.shape}, logvar {logvar.shape}, "
                            f"labels {labels.shape}, ids {ids.shape}")
    return mean, logvar, labels, ids


def latent_codes_csv(encoded: dict[str, np.ndarray]) -> bytes:
    """UTF-8 CSV, one row per encoded image: ``id,label,z0..z{D-1},logvar0..logvar{D-1}``
    (posterior mean and log-variance; floats with 9 significant digits, exact for float32)."""
    mean, logvar, labels, ids = _codes(encoded)
    d = mean.shape[1]
    header = ",".join(["id", "label", *(f"z{i}" for i in range(d)), *(f"logvar{i}" for i in range(d))])
    table = np.column_stack([ids, labels, mean, logvar]).astype(np.float64) if len(ids) else np.zeros((0, 2 + 2 * d))
    out = io.StringIO()
    np.savetxt(out, table, fmt=["%d", "%d"] + ["%.9g"] * (2 * d), delimiter=",", header=header, comments="")
    return out.getvalue().encode("utf-8")


def latent_codes_npz(encoded: dict[str, np.ndarray], classes: tuple[str, ...] | list[str] | None = None) -> bytes:
    """Compressed NPZ of plain arrays (loads with ``allow_pickle=False``): ``mean``/``logvar``
    (N, D) float32, ``labels``/``ids`` (N,) int64 and, when given, ``classes`` (K,) unicode."""
    mean, logvar, labels, ids = _codes(encoded)
    arrays = {"mean": mean, "logvar": logvar, "labels": labels, "ids": ids}
    if classes is not None:
        arrays["classes"] = np.array([str(c) for c in classes], dtype=np.str_)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()
