"""The worker's per-epoch preview image, for unconditional and class-conditional models."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from services.worker import _preview_png
from vae.config import ModelConfig
from vae.models import build_model


def _images(n: int = 4) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_preview_of_an_unconditional_model(tmp_path):
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(16,)))
    _preview_png(model, _images(), tmp_path / "p.png", seed=0)
    assert Image.open(tmp_path / "p.png").size == (4 * 28 * 3, 3 * 28 * 3)


def test_preview_of_a_conditional_model_uses_the_labels(tmp_path):
    model = build_model(ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(16,)))
    x = _images()
    _preview_png(model, x, tmp_path / "a.png", seed=0, labels=torch.tensor([0, 1, 2, 3]))
    _preview_png(model, x, tmp_path / "b.png", seed=0, labels=torch.tensor([9, 8, 7, 6]))
    a = torch.from_numpy(np.asarray(Image.open(tmp_path / "a.png")).copy())
    b = torch.from_numpy(np.asarray(Image.open(tmp_path / "b.png")).copy())
    assert a.shape == b.shape and not torch.equal(a, b)  # the classes reach the decoder
    assert model.training  # put back in training mode
