"""vae.settings: every environment variable read in one place, and documented in the README."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from vae import settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_follow_xdg_folders(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "share"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    base = tmp_path / "share" / "vae-latent-lab"
    assert settings.user_data_dir(env) == base
    assert settings.user_models_dir(env) == base / "models"
    assert settings.jobs_dir(env) == base / "jobs"
    assert settings.uploads_dir(env) == base / "datasets"
    assert settings.uploads_dir({"VAE_JOBS_DIR": str(tmp_path / "x" / "jobs")}) == tmp_path / "x" / "datasets"
    assert settings.data_dir(env) == tmp_path / "cache" / "vae-latent-lab" / "data"
    assert settings.app_threads(env) == 1
    assert settings.max_jobs(env) >= 1


def test_variables_override_defaults(tmp_path):
    env = {"VAE_USER_MODELS": str(tmp_path / "m"), "VAE_JOBS_DIR": "~/j", "VAE_DATA_DIR": str(tmp_path / "d"),
           "VAE_UPLOADS_DIR": str(tmp_path / "u"), "VAE_MAX_JOBS": "3", "VAE_APP_THREADS": "2"}
    assert settings.user_models_dir(env) == tmp_path / "m"
    assert settings.jobs_dir(env) == Path("~/j").expanduser()
    assert settings.data_dir(env) == tmp_path / "d"
    assert settings.uploads_dir(env) == tmp_path / "u"
    assert settings.max_jobs(env) == 3
    assert settings.app_threads(env) == 2


@pytest.mark.parametrize("value", ["two", "0", "-1", "1.5"])
def test_bad_numbers_name_the_variable(value):
    with pytest.raises(settings.SettingsError, match="VAE_MAX_JOBS"):
        settings.max_jobs({"VAE_MAX_JOBS": value})


def test_read_when_asked_not_at_import(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_USER_MODELS", str(tmp_path / "later"))
    assert settings.user_models_dir() == tmp_path / "later"
    from vae.data.base import default_data_dir

    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data"


def test_no_other_module_reads_the_environment():
    """Only vae/settings.py reads VAE_* / XDG_* variables (tests and CI may set them)."""
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    pattern = re.compile(r"(os\.environ(\.get)?\s*[\[(]\s*|getenv\(\s*)[\"'](VAE_|XDG_)")
    offenders = [f for f in files if not f.startswith("tests/") and f != "vae/settings.py"
                 and pattern.search((ROOT / f).read_text(encoding="utf-8"))]
    assert offenders == []


def test_readme_documents_every_variable():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings.markdown_table() in readme


def test_modes_and_their_limits():
    assert settings.mode({}) == "local"
    assert settings.mode({"VAE_MODE": " Classroom "}) == "classroom"
    with pytest.raises(settings.SettingsError, match="VAE_MODE"):
        settings.mode({"VAE_MODE": "party"})
    local, room = settings.limits({}), settings.limits({"VAE_MODE": "classroom"})
    assert room.jobs_per_workspace < local.jobs_per_workspace and room.max_epochs < local.max_epochs
    assert room.max_train_values >= 60_000 * 784  # full MNIST still trains in a classroom
    assert settings.limits({"VAE_MODE": "public", "VAE_JOBS_PER_WORKSPACE": "5"}).jobs_per_workspace == 0
    assert settings.limits({"VAE_MODE": "classroom", "VAE_MAX_EPOCHS": "7"}).max_epochs == 7
    with pytest.raises(settings.SettingsError, match="VAE_MAX_BATCH"):
        settings.limits({"VAE_MAX_BATCH": "-3"})


def test_teacher_token_must_not_be_guessable():
    assert settings.teacher_token({}) is None
    assert settings.teacher_token({"VAE_TEACHER_TOKEN": "correct-horse-battery"}) == "correct-horse-battery"
    with pytest.raises(settings.SettingsError, match="12 characters"):
        settings.teacher_token({"VAE_TEACHER_TOKEN": "1234"})
