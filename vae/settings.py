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
    Variable("VAE_JOBS_BACKEND", "`local`", "where training jobs run: `local` (child processes of the app server) "
             "or `ray` (a Ray cluster's Jobs API; `pip install -r requirements-ray.txt`)"),
    Variable("VAE_RAY_ADDRESS", "`http://127.0.0.1:8265`", "with `VAE_JOBS_BACKEND=ray`: the Ray dashboard (Jobs "
             "API) address; the cluster must see the jobs and models folders at the same paths"),
    Variable("VAE_APP_THREADS", "1", "torch threads of the app server (requests decode one image or a small batch)"),
    Variable("VAE_MODE", "`local`", "deployment mode: `local` (one user, today's behaviour), `classroom` (anonymous "
             "students in private workspaces, an optional teacher), `public` (explore only: no training, no uploads "
             "of datasets)"),
    Variable("VAE_TEACHER_TOKEN", "unset (no teacher)", "classroom mode: whoever enters this token in the sidebar "
             "sees every job, can stop any and publish a student's model to the class (at least 12 characters)"),
    Variable("VAE_JOBS_PER_WORKSPACE", "20 (classroom: 2; public: 0)", "queued + running training jobs per workspace"),
    Variable("VAE_MAX_EPOCHS", "500 (classroom: 50)", "epochs one job may train to"),
    Variable("VAE_MAX_BATCH", "4096 (classroom: 1024)", "largest batch size"),
    Variable("VAE_MAX_TRAIN_VALUES", "400,000,000 (classroom: 60,000,000)", "images x channels x height x width of "
             "a training set, checked before any data is loaded (full MNIST is 47,040,000)"),
    Variable("VAE_JOB_TIME_LIMIT_S", "0 = none (classroom: 1800)", "wall-clock seconds one job may run before it "
             "is stopped (and can be resumed)"),
    Variable("VAE_UPLOADS_QUOTA_MB", "2000 (classroom: 500)", "disk for unpacked zip datasets, all workspaces "
             "together; the oldest unused are removed first"),
    Variable("VAE_UPLOADS_MAX_AGE_H", "168 (classroom: 24)", "unpacked zip datasets unused for this many hours "
             "are removed"),
    Variable("VAE_CHROMIUM", "`chromium` on the PATH, else `/usr/bin/chromium`", "browser for tests and benchmarks"),
    Variable("VAE_REQUIRE_BROWSER", "unset", "tests only: set (as `.ci/run` does) to fail, not skip, without "
             "Chromium and Node"),
    Variable("VAE_REQUIRE_RAY", "unset", "tests only: set (as `.ci/run` does) to fail, not skip, the Ray backend's "
             "tests without `ray`"),
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


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/vae-latent-lab`` (default ``~/.cache/vae-latent-lab``): per-user files
    that can be recomputed (t-SNE maps of models whose folder is read-only)."""
    cache = _env(environ).get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "vae-latent-lab"


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


JOBS_BACKENDS = ("local", "ray")


def jobs_backend(environ: Mapping[str, str] | None = None) -> str:
    """``$VAE_JOBS_BACKEND``: ``local`` (default) or ``ray``."""
    value = (_env(environ).get("VAE_JOBS_BACKEND") or "local").strip().lower()
    if value not in JOBS_BACKENDS:
        raise SettingsError(f"VAE_JOBS_BACKEND must be one of {', '.join(JOBS_BACKENDS)}, got {value!r}")
    return value


def ray_address(environ: Mapping[str, str] | None = None) -> str:
    """``$VAE_RAY_ADDRESS`` (default ``http://127.0.0.1:8265``): the Ray dashboard's Jobs API."""
    value = (_env(environ).get("VAE_RAY_ADDRESS") or "http://127.0.0.1:8265").strip()
    if not value.startswith(("http://", "https://")):
        raise SettingsError(f"VAE_RAY_ADDRESS must be the dashboard's http:// address, got {value!r}")
    return value


MODES = ("local", "classroom", "public")


def mode(environ: Mapping[str, str] | None = None) -> str:
    """``$VAE_MODE``: ``local`` (default), ``classroom`` or ``public``."""
    value = (_env(environ).get("VAE_MODE") or "local").strip().lower()
    if value not in MODES:
        raise SettingsError(f"VAE_MODE must be one of {', '.join(MODES)}, got {value!r}")
    return value


def teacher_token(environ: Mapping[str, str] | None = None) -> str | None:
    """``$VAE_TEACHER_TOKEN`` (None when unset); short tokens are refused, as guessable."""
    token = _env(environ).get("VAE_TEACHER_TOKEN") or None
    if token is not None and len(token) < 12:
        raise SettingsError("VAE_TEACHER_TOKEN must be at least 12 characters long (it is the teacher's password)")
    return token


@dataclass(frozen=True)
class Limits:
    """What the services layer allows one workspace (see the README's settings table)."""

    jobs_per_workspace: int
    max_epochs: int
    max_batch_size: int
    max_train_values: int
    job_time_limit_s: int
    uploads_quota_mb: int
    uploads_max_age_h: int


_LIMIT_DEFAULTS = {
    "local": Limits(20, 500, 4096, 400_000_000, 0, 2000, 168),
    "classroom": Limits(2, 50, 1024, 60_000_000, 1800, 500, 24),
    "public": Limits(0, 50, 1024, 60_000_000, 1800, 0, 24),
}
_LIMIT_VARS = {"jobs_per_workspace": "VAE_JOBS_PER_WORKSPACE", "max_epochs": "VAE_MAX_EPOCHS",
               "max_batch_size": "VAE_MAX_BATCH", "max_train_values": "VAE_MAX_TRAIN_VALUES",
               "job_time_limit_s": "VAE_JOB_TIME_LIMIT_S", "uploads_quota_mb": "VAE_UPLOADS_QUOTA_MB",
               "uploads_max_age_h": "VAE_UPLOADS_MAX_AGE_H"}


def limits(environ: Mapping[str, str] | None = None) -> Limits:
    """The mode's default limits, each overridable by its variable (0 allowed: none / off)."""
    base = _LIMIT_DEFAULTS[mode(environ)]
    values = {}
    for field_name, var in _LIMIT_VARS.items():
        default = getattr(base, field_name)
        raw = _env(environ).get(var)
        values[field_name] = default if not raw else _non_negative_int(var, raw)
    if mode(environ) == "public":
        values["jobs_per_workspace"] = 0  # public mode never trains
    return Limits(**values)


def _non_negative_int(name: str, raw: str) -> int:
    try:
        value = int(raw.replace("_", "").replace(",", ""))
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must be 0 or more, got {value}")
    return value


def chromium(environ: Mapping[str, str] | None = None) -> str:
    """The browser the tests and benchmarks drive."""
    import shutil

    return _env(environ).get("VAE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def require_browser(environ: Mapping[str, str] | None = None) -> bool:
    """True when browser-stack tests must fail rather than skip (``.ci/run`` sets it)."""
    return bool(_env(environ).get("VAE_REQUIRE_BROWSER"))


def require_ray(environ: Mapping[str, str] | None = None) -> bool:
    """True when the Ray backend's tests must fail rather than skip without ``ray`` (``.ci/run``)."""
    return bool(_env(environ).get("VAE_REQUIRE_RAY"))


def markdown_table() -> str:
    """The README's settings table."""
    rows = ["| variable | default | what it sets |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default} | {v.meaning} |" for v in ENVIRONMENT]
    return "\n".join(rows)


__all__ = ["ENVIRONMENT", "MODES", "Limits", "SettingsError", "Variable", "app_threads", "cache_dir", "chromium",
           "data_dir", "jobs_backend", "jobs_dir", "limits", "markdown_table", "max_jobs", "mode", "ray_address",
           "require_browser", "require_ray", "teacher_token", "uploads_dir", "user_data_dir", "user_models_dir"]
