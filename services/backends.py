"""Where training jobs run: the job registry (services/jobs.py) starts, watches and stops workers
through a :class:`Backend`, and never knows which one.

* :class:`LocalBackend` (the default): ``python -m services.worker JOB_DIR`` as a child process of
  the app server, in its own session, as before. Workers of one machine's replicas are watched
  through ``/proc``, so every replica of a ``deploy/run_local.sh`` sees them.
* :class:`RayBackend` (``VAE_JOBS_BACKEND=ray``, ``pip install -r requirements-ray.txt``): the same
  worker command submitted to a Ray cluster's Jobs API (``VAE_RAY_ADDRESS``). Jobs live in the
  cluster, not in any app server: they survive every replica's restart. The cluster must see the
  jobs and models folders at the same paths (shared storage) and have this app installed.

A *handle* is what the registry records in ``job.json`` to find the worker again from any
replica: a JSON object whose ``backend`` names the backend ("local" when absent, as in records
written before there were backends). No Streamlit here.
"""
from __future__ import annotations

import os
import shlex
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Protocol

from services.jobstore import Worker, is_our_worker, log_tail, stop_all
from vae import settings
from vae.runspec import RunSpec

ROOT = Path(__file__).resolve().parents[1]  # the app's checkout: the worker's working directory
RAY_MISSING = ("The Ray jobs backend needs the optional requirements: pip install -r requirements-ray.txt "
               "(or set VAE_JOBS_BACKEND=local).")
RAY_STATUS_TTL_S = 1.0  # one Jobs API status call per job per second, whatever the number of viewers


class BackendError(RuntimeError):
    """The backend cannot start or reach a job; the message says why, for the user."""


class Backend(Protocol):
    """What the registry needs from a place that runs workers."""

    name: str
    keeps_jobs: bool  # True: jobs outlive the app server (a server shutdown leaves them running)

    def start(self, job_dir: Path, spec: RunSpec, time_limit_s: int) -> dict:
        """Start ``services.worker`` for ``job_dir``; the handle to record (raises BackendError)."""

    def poll(self, handle: dict, job_dir: Path | None = None) -> int | None:
        """None while the worker runs (or may: the backend cannot tell); else its exit code
        (-1: ended, code unknown)."""

    def cancel(self, handle: dict) -> None:
        """Cancel a worker that has not started training (the stop file covers running ones)."""

    def terminate(self, handles: list[dict], grace_s: float, job_dirs: list[Path] | None = None) -> None:
        """Stop these workers now (SIGTERM: they save a checkpoint), killing them after ``grace_s``."""

    def failure(self, handle: dict, job_dir: Path) -> str:
        """The end of the worker's output, to explain a failure."""


def _command(job_dir: Path, time_limit_s: int, python: str) -> list[str]:
    argv = [python, "-m", "services.worker", str(job_dir)]
    return argv + ["--time-limit", str(time_limit_s)] if time_limit_s else argv


class LocalBackend:
    """Workers as child processes of this server (one machine: replicas share ``/proc``)."""

    name = "local"
    keeps_jobs = False

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self._children: dict[int, Worker] = {}  # pid -> the workers this process started (reaped by poll)

    def start(self, job_dir: Path, spec: RunSpec, time_limit_s: int) -> dict:
        env = {**os.environ, "OMP_NUM_THREADS": str(spec.threads or 1)}
        worker = Worker.spawn(_command(job_dir, time_limit_s, self.python), job_dir, env, cwd=str(ROOT))
        self._children[worker.pid] = worker
        return {"backend": self.name, **worker.record()}

    def _worker(self, handle: dict, job_dir: Path) -> Worker | None:
        pid = handle.get("pid")
        child = self._children.get(pid) if isinstance(pid, int) else None
        if child is not None and child.start == handle.get("start"):
            return child
        return Worker.adopt(handle, job_dir)

    def poll(self, handle: dict, job_dir: Path | None = None) -> int | None:
        pid = handle.get("pid")
        child = self._children.get(pid) if isinstance(pid, int) else None
        if child is not None and child.start == handle.get("start"):
            code = child.poll()
            if code is not None:
                del self._children[pid]
            return code
        if job_dir is None:
            return -1
        return None if is_our_worker(pid, handle.get("start"), job_dir) else -1

    def cancel(self, handle: dict) -> None:
        """Nothing to do: a local worker reads its stop file from its first step."""

    def terminate(self, handles: list[dict], grace_s: float, job_dirs: list[Path] | None = None) -> None:
        workers = [w for h, d in zip(handles, job_dirs or [None] * len(handles))
                   if d is not None and (w := self._worker(h, d)) is not None]
        stop_all(workers, grace_s)
        for w in workers:
            self._children.pop(w.pid, None)

    def failure(self, handle: dict, job_dir: Path) -> str:
        return log_tail(job_dir / "worker.log")


class RayBackend:
    """Workers as Ray Jobs on the cluster whose dashboard is at ``address`` (``http://HOST:8265``)."""

    name = "ray"
    keeps_jobs = True

    def __init__(self, address: str, python: str = "python") -> None:
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError:
            raise BackendError(RAY_MISSING) from None
        self.address, self.python = address, python
        self._client_cls = JobSubmissionClient
        self._client = None
        self._lock = threading.Lock()
        self._status: dict[str, tuple[float, int | None]] = {}  # submission id -> (when read, poll result)

    def _api(self):
        with self._lock:
            if self._client is None:
                try:
                    self._client = self._client_cls(self.address)
                except Exception as exc:  # ConnectionError, RuntimeError: no dashboard there
                    raise BackendError(f"The Ray cluster at {self.address} cannot be reached "
                                       f"({type(exc).__name__}); is `ray start --head` running?") from None
            return self._client

    def start(self, job_dir: Path, spec: RunSpec, time_limit_s: int) -> dict:
        threads = spec.threads or 1
        entry = " ".join(shlex.quote(a) for a in _command(job_dir, time_limit_s, self.python))
        gpus = 1 if str(spec.device).startswith("cuda") else 0  # a CUDA job asks the cluster for a GPU
        env = {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
        sid = f"vae-{job_dir.name}-{uuid.uuid4().hex[:8]}"
        try:
            self._api().submit_job(entrypoint=entry, submission_id=sid, runtime_env={"env_vars": env},
                                   entrypoint_num_cpus=threads, entrypoint_num_gpus=gpus,
                                   metadata={"vae_job": job_dir.name})
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"The Ray cluster refused the job: {type(exc).__name__}: {exc}") from None
        return {"backend": self.name, "id": sid, "address": self.address}

    def poll(self, handle: dict, job_dir: Path | None = None) -> int | None:
        sid = handle.get("id")
        if not isinstance(sid, str):
            return -1
        now = time.monotonic()
        cached = self._status.get(sid)
        if cached is not None and now - cached[0] < RAY_STATUS_TTL_S:
            return cached[1]
        try:
            status = str(self._api().get_job_status(sid)).rsplit(".", 1)[-1]
        except Exception as exc:  # unreachable for now: it may still run; say so in the log only
            print(f"services.backends: Ray status of {sid}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return None
        code = {"PENDING": None, "RUNNING": None, "SUCCEEDED": 0, "FAILED": 1, "STOPPED": -15}.get(status)
        self._status[sid] = (now, code)
        return code

    def _stop(self, handle: dict) -> None:
        try:
            self._api().stop_job(handle["id"])
        except Exception as exc:
            print(f"services.backends: Ray stop of {handle.get('id')}: {type(exc).__name__}: {exc}", file=sys.stderr)

    def cancel(self, handle: dict) -> None:
        """A job still PENDING in Ray (no resources yet) never reads its stop file: stop it there."""
        try:
            pending = str(self._api().get_job_status(handle["id"])).endswith("PENDING")
        except Exception:
            return
        if pending:
            self._stop(handle)

    def terminate(self, handles: list[dict], grace_s: float, job_dirs: list[Path] | None = None) -> None:
        for handle in handles:
            self._stop(handle)

    def failure(self, handle: dict, job_dir: Path) -> str:
        try:
            info = self._api().get_job_info(handle["id"])
        except Exception as exc:
            return f"(Ray: {type(exc).__name__})"
        return (info.message or "")[-800:]


def from_settings() -> Backend:
    """The backend the settings name (``VAE_JOBS_BACKEND``; raises SettingsError or BackendError)."""
    kind = settings.jobs_backend()
    return RayBackend(settings.ray_address()) if kind == "ray" else LocalBackend()


def backend_of(handle: dict, default: Backend, cache: dict[str, Backend]) -> Backend | None:
    """The backend that can watch ``handle`` (``default`` if it is the same kind; a Ray backend for a
    Ray handle's address otherwise, kept in ``cache``); None when Ray is not installed here."""
    kind = handle.get("backend", "local")
    if kind == default.name and (kind != "ray" or handle.get("address") == getattr(default, "address", None)):
        return default
    key = f"{kind}:{handle.get('address', '')}"
    if key not in cache:
        try:
            cache[key] = RayBackend(str(handle.get("address"))) if kind == "ray" else LocalBackend()
        except BackendError:
            return None
    return cache[key]


__all__ = ["Backend", "BackendError", "LocalBackend", "RayBackend", "backend_of", "from_settings"]
