"""Unit-test fixtures."""
from __future__ import annotations

import shutil

import pytest

from services import preprocess
from vae import settings


@pytest.fixture(autouse=True)
def _fresh_prepare_cache():
    """prepare() caches by file content: each test decodes for itself."""
    preprocess.clear_cache()


@pytest.fixture(scope="session")
def node() -> str:
    """Node's executable, for the tests that run the live component's JS; skips without it,
    unless VAE_REQUIRE_BROWSER is set (CI), where it fails."""
    exe = shutil.which("node")
    if exe is None:
        if settings.require_browser():
            pytest.fail("VAE_REQUIRE_BROWSER is set but `node` is not on PATH (install Node.js 18+)")
        pytest.skip("`node` is not on PATH: install Node.js 18+ to test the live component's JS")
    return exe
