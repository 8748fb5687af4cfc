"""The in-browser encoder (ui/live_assets/encoder.js, run in Node on services/encoder_export.py's
export) matches PyTorch's ``model.encode(x, y)``: posterior mean and log variance within 1e-4
(absolute) on every shipped model (float16, their stored precision), on real images of the
model's dataset and on random inputs, and on small models of every layer kind the exporter
supports (float32), class-conditional ones included.

Needs Node (``node`` on PATH); skips without it, unless VAE_REQUIRE_BROWSER is set."""
from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

from services.catalog import SHIPPED_DIR
from services.encoder_export import UnsupportedEncoder, export_encoder
from vae.checkpoint import load, save
from vae.config import ModelConfig
from vae.data.samples import has_sample, load_sample
from vae.data.shapes import make_shapes
from vae.models import VAE, build_model

HARNESS = Path(__file__).with_name("js_encoder_harness.js")
TOLERANCE = 1e-4
SHIPPED = sorted(p.name for p in SHIPPED_DIR.iterdir()
                 if not p.name.startswith(".") and (p / "model.safetensors").exists())


def _run(node: str, job: dict, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([node, str(HARNESS)], input=json.dumps(job), capture_output=True, text=True,
                         timeout=120, check=False)
    if ok:
        assert out.returncode == 0, out.stderr
    return out


def _job(model: VAE, x: torch.Tensor, labels: torch.Tensor | None, dtype: str) -> dict:
    spec, weights = export_encoder(model)
    assert spec["dtype"] == dtype
    job = {"spec": spec, "weights": base64.b64encode(weights).decode("ascii"), "x": x.flatten(1).tolist()}
    if labels is not None:
        job["labels"] = labels.tolist()
    return job


def _max_error(node: str, model: VAE, x: torch.Tensor, labels: torch.Tensor | None = None,
               dtype: str = "float32") -> float:
    """(N, C, H, W) images in [0, 1] (and (N,) classes) through encoder.js and through
    ``model.encode``: the largest absolute difference of mean and log variance."""
    out = json.loads(_run(node, _job(model, x, labels, dtype)).stdout)
    with torch.no_grad():
        post = model.encode(x, labels) if labels is not None else model.encode(x)
    mean = torch.tensor(out["mean"], dtype=torch.float64)
    logvar = torch.tensor(out["logvar"], dtype=torch.float64)
    assert mean.shape == logvar.shape == (len(x), model.latent_dim)
    return max(float((mean - post.mean.double()).abs().max()), float((logvar - post.logvar.double()).abs().max()))


def _inputs(model: VAE, dataset: str = "", n_real: int = 24, n_random: int = 8,
            seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, H, W) images: real ones of ``dataset`` (its shipped test sample, else procedural
    shapes) and random ones (uniform, and sparse like a drawing); and (N,) classes."""
    gen = torch.Generator().manual_seed(seed)
    c, h, w = model.config.image_shape
    if has_sample(dataset):
        data = load_sample(dataset)
        pick = torch.randperm(len(data), generator=gen)[:n_real]
        real, real_labels = data.images[pick].float() / 255.0, data.labels[pick]
    else:
        data = make_shapes(n_real, seed=seed, size=h)
        real, real_labels = data.images.float() / 255.0, data.labels
    noise = torch.rand(n_random, c, h, w, generator=gen)
    noise[n_random // 2:] *= torch.rand(n_random - n_random // 2, c, h, w, generator=gen) > 0.8
    if real.shape[-2:] != (h, w):  # a small model's own size: the same pictures, resized
        real = nn.functional.interpolate(real, size=(h, w), mode="bilinear", antialias=True)
    x = torch.cat([real.expand(-1, c, -1, -1), noise])
    k = max(model.config.num_classes, 1)
    labels = torch.cat([real_labels % k, torch.randint(0, k, (n_random,), generator=gen)])
    return x, labels


@pytest.mark.parametrize("name", SHIPPED)
def test_js_encoder_matches_torch_on_shipped_model(node, name):
    ckpt = load(SHIPPED_DIR / name)
    model = ckpt.model.eval()
    x, labels = _inputs(model, ckpt.dataset)
    conditional = model.config.num_classes > 0
    assert _max_error(node, model, x, labels if conditional else None, dtype="float16") <= TOLERANCE


@pytest.mark.parametrize("arch", ["cmlp", "cconv"])
def test_js_encoder_matches_torch_on_a_stored_conditional_model(node, tmp_path, arch):
    """Until a conditional model ships: one saved as the shipped ones are (float16 weights,
    MNIST-sized, conditional on the digit), loaded back and fed real digits with their labels."""
    cfg = ModelConfig(arch=arch, num_classes=10, latent_dim=2, hidden=(64, 32), conv_channels=(8, 16), conv_fc=32)
    model = build_model(cfg, generator=torch.Generator().manual_seed(6))
    ckpt = load(save(tmp_path / "cond", model, "mnist", weights_dtype=torch.float16))
    x, labels = _inputs(ckpt.model.eval(), ckpt.dataset)
    assert _max_error(node, ckpt.model, x, labels, dtype="float16") <= TOLERANCE


SMALL = [
    ModelConfig(arch="mlp", latent_dim=3, hidden=(32, 16), activation="elu"),
    ModelConfig(arch="mlp", latent_dim=5, hidden=(24,), activation="silu", likelihood="gaussian"),
    ModelConfig(arch="mlp", channels=3, height=12, width=10, latent_dim=4, hidden=(16,)),
    ModelConfig(arch="conv", latent_dim=2, conv_channels=(4, 8, 8), conv_fc=16),  # 28 -> 14 -> 7 -> 3
    ModelConfig(arch="conv", channels=3, height=13, width=9, latent_dim=3, conv_channels=(4, 6), conv_fc=8,
                activation="silu"),  # odd sizes: 13x9 -> 6x4 -> 3x2
    ModelConfig(arch="conv", latent_dim=4, conv_channels=(32, 64), conv_fc=32, activation="elu"),
    ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32,)),
    ModelConfig(arch="cconv", num_classes=3, latent_dim=3, conv_channels=(4, 8), conv_fc=16, activation="silu"),
]


@pytest.mark.parametrize("cfg", SMALL, ids=lambda c: f"{c.arch}-{c.channels}x{c.height}x{c.width}-{c.activation}")
def test_js_encoder_matches_torch_on_every_layer_kind(node, cfg):
    model = build_model(cfg, generator=torch.Generator().manual_seed(1)).eval()
    x, labels = _inputs(model, "mnist", n_real=6, n_random=10)
    conditional = cfg.num_classes > 0
    assert _max_error(node, model, x, labels if conditional else None) <= TOLERANCE


def test_conditional_encoder_depends_on_the_class(node):
    """The label reaches the JS encoder: each class gives PyTorch's own posterior, and they differ."""
    model = build_model(ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32,)),
                        generator=torch.Generator().manual_seed(2)).eval()
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(3)).expand(10, -1, -1, -1)
    labels = torch.arange(10)
    out = json.loads(_run(node, _job(model, x, labels, "float32")).stdout)
    mean = torch.tensor(out["mean"])
    assert torch.cdist(mean, mean).add(torch.eye(10)).min() > 1e-3  # ten different posteriors
    assert _max_error(node, model, x, labels) <= TOLERANCE


def test_js_encoder_clamps_the_log_variance_like_torch(node):
    model = build_model(ModelConfig(arch="mlp", latent_dim=3, hidden=(8,)), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():  # log variances far beyond [-30, 20] in both directions
        head = model.encoder.net[-1]
        head.bias[3:] = torch.tensor([100.0, -100.0, 0.0])
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    out = json.loads(_run(node, _job(model, x, None, "float32")).stdout)
    logvar = torch.tensor(out["logvar"])
    assert logvar[:, 0].eq(20.0).all() and logvar[:, 1].eq(-30.0).all()
    assert _max_error(node, model, x) <= TOLERANCE


@pytest.mark.parametrize("label", [None, 10, -1, 2.5])
def test_js_encoder_refuses_a_missing_or_bad_class(node, label):
    model = build_model(ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(8,)))
    job = _job(model, torch.zeros(1, 1, 28, 28), None, "float32")
    job["labels"] = [label]
    out = _run(node, job, ok=False)
    assert out.returncode != 0 and "conditional on 10 classes" in out.stderr


def test_js_encoder_rejects_a_spec_that_does_not_fit_its_weights(node):
    model = build_model(ModelConfig(arch="conv", latent_dim=2, conv_channels=(4,), conv_fc=8))
    job = _job(model, torch.zeros(1, 1, 28, 28), None, "float32")
    job["weights"] = job["weights"][:-8]  # drops values off the end
    out = _run(node, job, ok=False)
    assert out.returncode != 0 and "weights" in out.stderr


def test_export_is_float16_only_when_exact():
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,)))
    assert export_encoder(model).spec["dtype"] == "float32"
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.copy_(p.half().float())
    spec, weights = export_encoder(model)
    assert spec["dtype"] == "float16" and len(weights) == 2 * spec["params"]
    assert spec["params"] == sum(p.numel() for p in model.encoder.parameters())


def test_export_refuses_what_the_browser_cannot_run():
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,)))
    with pytest.raises(UnsupportedEncoder, match="parameters, more than"):
        export_encoder(model, max_params=100)
    model.encoder.net[1] = nn.Tanh()
    with pytest.raises(UnsupportedEncoder, match="Tanh"):
        export_encoder(model)
    conv = build_model(ModelConfig(arch="conv", latent_dim=2, conv_channels=(4,), conv_fc=8))
    conv.encoder.conv[0] = nn.Conv2d(1, 4, kernel_size=4, stride=2, padding=1, groups=1, dilation=2)
    with pytest.raises(UnsupportedEncoder, match="dilation"):
        export_encoder(conv)
    conv.encoder = nn.Identity()
    with pytest.raises(UnsupportedEncoder, match="Identity"):
        export_encoder(conv)
