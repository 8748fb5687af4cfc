"""The in-browser decoder (ui/live_assets/decoder.js, run in Node) matches PyTorch on every shipped
model (exported as float16, their stored precision: max abs pixel difference <= 1e-4; a conditional
one for every class) and on each layer kind the exporter supports (float32: <= 1e-3), class-conditional
decoders for several classes (<= 1e-4); its float16 -> float32 conversion is exact for all 65536 half
values (subnormals, infinities, NaN, -0 included).

Needs Node (``node`` on PATH); skips without it, unless VAE_REQUIRE_BROWSER is set."""
from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from services.catalog import SHIPPED_DIR
from services.export import export_decoder
from vae import explore
from vae.checkpoint import load
from vae.config import ModelConfig
from vae.models import build_model

HARNESS = Path(__file__).with_name("js_decoder_harness.js")
TOLERANCE = 1e-3
SHIPPED_TOLERANCE = 1e-4  # float16 weights that are exactly the model's: only float rounding differs
SHIPPED = sorted(p.name for p in SHIPPED_DIR.iterdir()
                 if not p.name.startswith(".") and (p / "model.safetensors").exists())


def _run(node: str, job: dict) -> dict:
    out = subprocess.run([node, str(HARNESS)], input=json.dumps(job), capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _js_decode(node: str, model, z: torch.Tensor, dtype: str, classes: torch.Tensor | None = None) -> torch.Tensor:
    """(N, D) latents (and, for a conditional model, (N,) classes) -> (N, C, H, W) images decoded
    by decoder.js in Node, from an export whose weights are ``dtype``."""
    exp = export_decoder(model)
    assert exp.spec["dtype"] == dtype and exp.spec["classes"] == model.num_classes
    job = {"spec": exp.spec, "weights": base64.b64encode(exp.weights).decode("ascii"), "z": z.tolist()}
    if classes is not None:
        job["classes"] = classes.tolist()
    images = torch.tensor(_run(node, job)["images"], dtype=torch.float64)
    return images.reshape(len(z), *model.config.image_shape)


def _compare(node: str, model, dtype: str = "float32", n: int = 12, seed: int = 0) -> float:
    """Max abs pixel difference over ``n`` latents (a conditional model: each as a class, cycling
    through all of them, at least 2n draws so that every class meets several z)."""
    k = model.num_classes
    n = max(n, 2 * k)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, model.latent_dim, generator=gen) * 1.5
    z[0] = 0.0
    classes = torch.arange(n) % k if k else None
    ref = explore.decode(model, z, labels=classes).double()
    got = _js_decode(node, model, z, dtype, classes)
    assert got.shape == ref.shape
    return float((got - ref).abs().max())


@pytest.mark.parametrize("name", SHIPPED)
def test_js_decoder_matches_torch_on_shipped_model(node, name):
    model = load(SHIPPED_DIR / name).model
    assert _compare(node, model, dtype="float16") <= SHIPPED_TOLERANCE


def test_js_half_to_float_is_exact_on_every_half_value(node):
    bits = np.array(_run(node, {"halves": True})["bits"], dtype=np.uint32)
    ref = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)
    got = bits.view(np.float32)
    nan = np.isnan(ref)
    assert nan.sum() == 2 * 1023 and np.array_equal(np.isnan(got), nan)
    assert np.array_equal(bits[~nan], ref[~nan].view(np.uint32))  # bit for bit: -0, subnormals, +-inf


@pytest.mark.parametrize("cfg", [
    ModelConfig(arch="mlp", latent_dim=3, hidden=(32, 16), activation="elu"),
    ModelConfig(arch="mlp", latent_dim=5, hidden=(24,), activation="silu", likelihood="gaussian"),
    ModelConfig(arch="mlp", channels=3, height=12, width=10, latent_dim=4, hidden=(16,)),
    ModelConfig(arch="conv", latent_dim=2, conv_channels=(4, 8, 8), conv_fc=16),  # 28 -> 14 -> 7 -> 3 and back
    ModelConfig(arch="conv", channels=3, height=13, width=9, latent_dim=3, conv_channels=(4, 6), conv_fc=8,
                activation="silu", likelihood="gaussian"),  # odd sizes: output_padding on both axes
])
def test_js_decoder_matches_torch_on_every_layer_kind(node, cfg):
    model = build_model(cfg, generator=torch.Generator().manual_seed(1)).eval()
    with torch.no_grad():  # widen the output range so the sigmoid / clamp are exercised at both ends
        last = [m for m in model.decoder.modules() if hasattr(m, "bias") and m.bias is not None][-1]
        last.bias.mul_(8.0)
    assert _compare(node, model) <= TOLERANCE


@pytest.mark.parametrize("cfg", [
    ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32, 16)),
    ModelConfig(arch="cmlp", num_classes=3, channels=3, height=12, width=10, latent_dim=4, hidden=(16,),
                activation="silu", likelihood="gaussian"),
    ModelConfig(arch="cconv", num_classes=5, latent_dim=2, conv_channels=(4, 8), conv_fc=16),
    ModelConfig(arch="cconv", num_classes=2, channels=3, height=13, width=9, latent_dim=3, conv_channels=(4, 6),
                conv_fc=8, activation="elu"),
])
@pytest.mark.parametrize("half", [False, True])
def test_js_conditional_decoder_matches_torch_for_every_class(node, cfg, half):
    model = build_model(cfg, generator=torch.Generator().manual_seed(2)).eval()
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(3.0)  # larger weights: the one-hot class moves the image a lot
            if half:
                p.copy_(p.half().float())
    assert _compare(node, model, dtype="float16" if half else "float32") <= SHIPPED_TOLERANCE
    z = torch.zeros(cfg.num_classes, cfg.latent_dim)  # and the classes really differ in JS too
    images = _js_decode(node, model, z, "float16" if half else "float32", torch.arange(cfg.num_classes))
    assert all((images[a] - images[b]).abs().max() > 1e-3
               for a in range(len(images)) for b in range(a + 1, len(images)))


def _job(model, z: list, **extra) -> dict:
    exp = export_decoder(model)
    return {"spec": exp.spec, "weights": base64.b64encode(exp.weights).decode("ascii"), "z": z, **extra}


@pytest.mark.parametrize("classes", [None, [3], [-1], [1.5], ["2"]])
def test_js_conditional_decoder_refuses_a_missing_or_bad_class(node, classes):
    model = build_model(ModelConfig(arch="cmlp", num_classes=3, latent_dim=2, hidden=(8,)))
    job = _job(model, [[0.0, 0.0]], **({} if classes is None else {"classes": classes}))
    out = subprocess.run([node, str(HARNESS)], input=json.dumps(job), capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode != 0 and "conditional on 3 classes: give a class 0..2" in out.stderr


def test_js_unconditional_decoder_ignores_a_class_and_reads_version_2_specs(node):
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,))).eval()
    z = [[0.5, -1.0]]
    plain = _run(node, _job(model, z))["images"]
    assert _run(node, _job(model, z, classes=[4]))["images"] == plain
    old = _job(model, z)
    old["spec"] = {k: v for k, v in old["spec"].items() if k != "classes"} | {"version": 2}
    assert _run(node, old)["images"] == plain


@pytest.mark.parametrize("half", [False, True])
def test_js_decoder_rejects_a_spec_that_does_not_fit_its_weights(node, half):
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,)))
    if half:
        with torch.no_grad():
            for p in model.decoder.parameters():
                p.copy_(p.half().float())
    exp = export_decoder(model)
    assert exp.spec["dtype"] == ("float16" if half else "float32")
    for cut in (exp.weights[:-4], exp.weights[:-1]):  # a value short, and not a whole number of values
        job = {"spec": exp.spec, "weights": base64.b64encode(cut).decode("ascii"), "z": [[0.0, 0.0]]}
        out = subprocess.run([node, str(HARNESS)], input=json.dumps(job), capture_output=True, text=True,
                             timeout=60, check=False)
        assert out.returncode != 0 and "weights" in out.stderr
