"""The in-browser decoder (ui/live_assets/decoder.js, run in Node) matches PyTorch on every shipped
model and on each layer kind the exporter supports: max abs pixel difference <= 1e-3.

Needs Node (``node`` on PATH); skips without it, unless VAE_REQUIRE_BROWSER is set."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from services.catalog import SHIPPED_DIR
from services.export import export_decoder
from vae import explore, settings
from vae.checkpoint import load
from vae.config import ModelConfig
from vae.models import build_model

HARNESS = Path(__file__).with_name("js_decoder_harness.js")
TOLERANCE = 1e-3
SHIPPED = sorted(p.name for p in SHIPPED_DIR.iterdir()
                 if not p.name.startswith(".") and (p / "model.safetensors").exists())


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        if settings.require_browser():
            pytest.fail("VAE_REQUIRE_BROWSER is set but `node` is not on PATH (install Node.js 18+)")
        pytest.skip("`node` is not on PATH: install Node.js 18+ to test the in-browser decoder")
    return exe


def _js_decode(node: str, model, z: torch.Tensor) -> torch.Tensor:
    """(N, D) latents -> (N, C, H, W) images decoded by decoder.js in Node."""
    exp = export_decoder(model)
    job = {"spec": exp.spec, "weights": base64.b64encode(exp.weights).decode("ascii"), "z": z.tolist()}
    out = subprocess.run([node, str(HARNESS)], input=json.dumps(job), capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    images = torch.tensor(json.loads(out.stdout)["images"], dtype=torch.float64)
    return images.reshape(len(z), *model.config.image_shape)


def _compare(node: str, model, n: int = 12, seed: int = 0) -> float:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, model.latent_dim, generator=gen) * 1.5
    z[0] = 0.0
    ref = explore.decode(model, z).double()
    got = _js_decode(node, model, z)
    assert got.shape == ref.shape
    return float((got - ref).abs().max())


@pytest.mark.parametrize("name", SHIPPED)
def test_js_decoder_matches_torch_on_shipped_model(node, name):
    model = load(SHIPPED_DIR / name).model
    assert _compare(node, model) <= TOLERANCE


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


def test_js_decoder_rejects_a_spec_that_does_not_fit_its_weights(node):
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,)))
    exp = export_decoder(model)
    job = {"spec": exp.spec, "weights": base64.b64encode(exp.weights[:-4]).decode("ascii"), "z": [[0.0, 0.0]]}
    out = subprocess.run([node, str(HARNESS)], input=json.dumps(job), capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode != 0 and "weights" in out.stderr
