"""The in-browser decoder (ui/live_assets/decoder.js, run in Node) matches PyTorch on every shipped
model (exported as float16, their stored precision: max abs pixel difference <= 1e-4) and on each
layer kind the exporter supports (float32: <= 1e-3); its float16 -> float32 conversion is exact
for all 65536 half values (subnormals, infinities, NaN, -0 included).

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


def _js_decode(node: str, model, z: torch.Tensor, dtype: str) -> torch.Tensor:
    """(N, D) latents -> (N, C, H, W) images decoded by decoder.js in Node, from an export whose
    weights are ``dtype``."""
    exp = export_decoder(model)
    assert exp.spec["dtype"] == dtype
    job = {"spec": exp.spec, "weights": base64.b64encode(exp.weights).decode("ascii"), "z": z.tolist()}
    images = torch.tensor(_run(node, job)["images"], dtype=torch.float64)
    return images.reshape(len(z), *model.config.image_shape)


def _compare(node: str, model, dtype: str = "float32", n: int = 12, seed: int = 0) -> float:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, model.latent_dim, generator=gen) * 1.5
    z[0] = 0.0
    ref = explore.decode(model, z).double()
    got = _js_decode(node, model, z, dtype)
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
