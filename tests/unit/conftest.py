"""Unit-test fixtures."""
from __future__ import annotations

import pytest

from services import preprocess


@pytest.fixture(autouse=True)
def _fresh_prepare_cache():
    """prepare() caches by file content: each test decodes for itself."""
    preprocess.clear_cache()
