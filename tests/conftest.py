"""Shared fixtures. Tests that want full MNIST read it from $VAE_DATA_DIR (CI: ../shared/data)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from vae.data.base import ImageData, default_data_dir
from vae.data.shapes import make_shapes
from vae.data.torchvision_sets import files_present


@pytest.fixture(autouse=True)
def _torch_threads():
    """Keep the suite to the machine's cores and never leak thread settings between tests."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def shapes_small() -> ImageData:
    return make_shapes(512, seed=3)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The data root holding full MNIST; skips when it is absent (CI always has it)."""
    root = default_data_dir()
    if not files_present("mnist", root):
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide full MNIST under $VAE_DATA_DIR ({root})")
        pytest.skip(f"full MNIST not found under {root}; set VAE_DATA_DIR to a folder with MNIST/raw")
    return root
