"""Fixtures for the AppTest tests (helpers live in app_helpers.py)."""
from __future__ import annotations

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage


@pytest.fixture(autouse=True)
def _isolated_user_models(tmp_path, monkeypatch):
    """The picker lists shipped models plus an empty, private user-models folder; jobs too
    get a private folder."""
    monkeypatch.setenv("VAE_USER_MODELS", str(tmp_path / "user_models"))
    monkeypatch.setenv("VAE_JOBS_DIR", str(tmp_path / "jobs"))


@pytest.fixture
def media(monkeypatch) -> dict[str, bytes]:
    """file id -> bytes of every media file the app stores during the test."""
    store: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        store[file_id] = self.get_file(file_id).content
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return store
