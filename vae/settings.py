"""Every setting read from the environment, in one place (the bottom of the library: it
imports nothing of the project's).

Each value is read when asked for, so a test or a server started with another environment
sees its own. :data:`ENVIRONMENT` documents every variable; the README's settings table is
built from it (and a test keeps the two in step).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class SettingsError(ValueError):
    """An environment variable has a value the app cannot use; the message names it."""


@dataclass(frozen=True)
class Variable:
    """One documented environment variable."""

    name: str
    default: str
    meaning: str


ENVIRONMENT: tuple[Variable, ...] = (
    Variable("VAE_DATA_DIR", "`$XDG_CACHE_HOME/vae-latent-lab/data` (`~/.cache/...`)",
             "dataset root in torchvision's layout (`ROOT/MNIST/raw`); `--data-dir` overrides it"),
    Variable("VAE_USER_MODELS", "`$XDG_DATA_HOME/vae-latent-lab/models` (`~/.local/share/...`)",
             "where models trained in the app (and listed beside the shipped ones) live"),
    Variable("VAE_JOBS_DIR", "`$XDG_DATA_HOME/vae-latent-lab/jobs`",
             "background training jobs: spec, events, previews, resumable checkpoint"),
    Variable("VAE_UPLOADS_DIR", "`datasets/` beside the jobs folder",
             "where uploaded zip datasets are unpacked"),
    Variable("VAE_MAX_JOBS", "one per two CPU cores (1 on 2 cores)", "training jobs that run at once; the rest queue"),
    Variable("VAE_APP_THREADS", "1", "torch threads of the app server (requests decode one image or a small batch)"),
    Variable("VAE_CHROMIUM", "`chromium` on the PATH, else `/usr/bin/chromium`", "browser for tests and benchmarks"),
    Variable("VAE_REQUIRE_BROWSER", "unset", "tests only: set (as `.ci/run` does) to fail, not skip, without "
             "Chromium and Node"),
)


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _positive_int(name: str, environ: Mapping[str, str] | None, default: int) -> int:
    raw = _env(environ).get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, got {value}")
    return value


def _path(name: str, environ: Mapping[str, str] | None, default: Path) -> Path:
    raw = _env(environ).get(name)
    return Path(raw).expanduser() if raw else default


def user_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/vae-latent-lab`` (default ``~/.local/share/vae-latent-lab``)."""
    base = _env(environ).get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "vae-latent-lab"


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$VAE_DATA_DIR``, else ``$XDG_CACHE_HOME/vae-latent-lab/data`` (``~/.cache/...``)."""
    cache = _env(environ).get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return _path("VAE_DATA_DIR", environ, Path(cache) / "vae-latent-lab" / "data")


def user_models_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$VAE_USER_MODELS``, else ``models/`` under :func:`user_data_dir`."""
    return _path("VAE_USER_MODELS", environ, user_data_dir(environ) / "models")


def jobs_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$VAE_JOBS_DIR``, else ``jobs/`` under :func:`user_data_dir`."""
    return _path("VAE_JOBS_DIR", environ, user_data_dir(environ) / "jobs")


def uploads_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$VAE_UPLOADS_DIR``, else ``datasets/`` beside :func:`jobs_dir` (so a server given a
    private jobs folder keeps its uploads there too)."""
    return _path("VAE_UPLOADS_DIR", environ, jobs_dir(environ).parent / "datasets")


def max_jobs(environ: Mapping[str, str] | None = None) -> int:
    """``$VAE_MAX_JOBS``, else one per two CPU cores (at least 1)."""
    return _positive_int("VAE_MAX_JOBS", environ, max(1, (os.cpu_count() or 2) // 2))


def app_threads(environ: Mapping[str, str] | None = None) -> int:
    """``$VAE_APP_THREADS`` (default 1): torch threads of the app server process."""
    return _positive_int("VAE_APP_THREADS", environ, 1)


def chromium(environ: Mapping[str, str] | None = None) -> str:
    """The browser the tests and benchmarks drive."""
    import shutil

    return _env(environ).get("VAE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def require_browser(environ: Mapping[str, str] | None = None) -> bool:
    """True when browser-stack tests must fail rather than skip (``.ci/run`` sets it)."""
    return bool(_env(environ).get("VAE_REQUIRE_BROWSER"))


def markdown_table() -> str:
    """The README's settings table."""
    rows = ["| variable | default | what it sets |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default} | {v.meaning} |" for v in ENVIRONMENT]
    return "\n".join(rows)


__all__ = ["ENVIRONMENT", "SettingsError", "Variable", "app_threads", "chromium", "data_dir", "jobs_dir",
           "markdown_table", "max_jobs", "require_browser", "uploads_dir", "user_data_dir", "user_models_dir"]
