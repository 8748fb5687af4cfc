"""A process-wide registry of background training jobs, safe to share with a class.

Each job is a ``python -m services.worker JOB_DIR`` subprocess in its own session (so a crash or an
out-of-memory kill takes down only that job, and its torch thread count is its own). At most
``max_running`` run at once; the rest wait in submission order. A monitor thread reads each
job's ``events.jsonl`` and keeps an in-memory status that any session can read by job id.
Jobs belong to the workspace that started them: only it (or the teacher) can stop or resume them,
and each request is checked against the server's limits (:func:`vae.settings.limits`) before any
data is loaded. Jobs outlive the server: a new registry rebuilds them from the jobs folder and
adopts workers that still run (services/jobstore.py). Finished jobs are reaped ``reap_after_s``
seconds after they end. No Streamlit here.
"""
from __future__ import annotations

import atexit
import copy
import dataclasses
import os
import re
import shutil
import sys
import threading
import time
import uuid
import weakref
from pathlib import Path

from services import jobstore, uploads
from services.jobstore import ACTIVE, FINAL, JobStatus, Worker, read_events, release_lock, save_record, take_lock
from services.workspace import LOCAL, WORKSPACE_PREFIX, AccessError, Actor, models_dir_for, reserved_names
from vae import settings
from vae.config import ConfigError, TrainConfig
from vae.registry import FOLDER_PREFIX
from vae.runspec import DataSpec, RunSpec

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CHECKPOINT = "checkpoint"  # the worker's resumable per-epoch checkpoint, inside the job folder
SHARED_MODES = ("classroom", "public")
MAX_MODEL_PARAMS = 25_000_000  # classroom/public: larger models would not fit beside 30 others
MAX_IWAE_K = 100  # classroom/public: the final IWAE estimate runs after the time limit's last check
SHUT_DOWN = "the server shut down"
DATASETS_ONLY = "Datasets are the listed ones or a zip you uploaded here."



_OPEN: weakref.WeakSet = weakref.WeakSet()  # registries not closed yet


def close_all() -> None:
    """Close every open registry as at a clean shutdown; for servers whose exit skips ``atexit`` (serve.py)."""
    for registry in list(_OPEN):
        registry.close()

class JobError(ValueError):
    """A request the registry refuses (bad name, unknown job, wrong state, over a limit); the
    message says why, for the user."""


class JobAccessError(JobError, AccessError):
    """A request about someone else's job."""


def validate_name(name: str, models_dir: Path, overwrite: bool = False) -> Path:
    """The output folder for model ``name``; refuses path tricks and silent overwrites."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
        raise JobError("Model names use letters, digits, '-', '_' and '.', start with a letter or digit, "
                       "and are at most 64 characters (no slashes or '..').")
    out = (models_dir / name).resolve()
    if out.parent != models_dir.resolve():
        raise JobError(f"'{name}' would be saved outside the models folder.")
    if out.exists() and not overwrite:
        raise JobError(f"A model called '{name}' already exists. Choose another name, or tick "
                       "'replace an existing model of the same name'.")
    return out


def check_model_name(name: str) -> None:
    """Refuse names kept for shipped models and for workspace folders (JobError)."""
    if isinstance(name, str) and name.lower() in {r.lower() for r in reserved_names()}:
        raise JobError(f"'{name}' is the name of a shipped model; choose another name")
    if isinstance(name, str) and name.lower().startswith(WORKSPACE_PREFIX):
        raise JobError(f"Names starting with '{WORKSPACE_PREFIX}' are kept for workspaces; choose another name")


def is_server_upload(path: str) -> bool:
    """True for a dataset folder this server unpacked from an upload (services.uploads decides)."""
    return uploads.is_server_upload(path)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_train(train: TrainConfig, limits: settings.Limits) -> None:
    if not _is_count(train.epochs) or not 1 <= train.epochs <= limits.max_epochs:
        raise JobError(f"Epochs must be a whole number from 1 to {limits.max_epochs} on this server.")
    if not _is_count(train.batch_size) or not 1 <= train.batch_size <= limits.max_batch_size:
        raise JobError(f"The batch size must be a whole number from 1 to {limits.max_batch_size} on this server.")
    top = max(limits.max_batch_size, TrainConfig().eval_batch_size)
    if not _is_count(train.eval_batch_size) or not 1 <= train.eval_batch_size <= top:
        raise JobError(f"The evaluation batch size must be a whole number from 1 to {top}.")
    if not _is_count(train.seed):
        raise JobError("The seed must be a whole number.")


def _check_data(data: DataSpec, limits: settings.Limits) -> DataSpec:
    """The dataset as the worker will load it; refuses anything but the registry's sets and this
    server's uploads (never saying whether a path exists) and sets over the size limit."""
    if data.data_dir is not None:
        raise JobError(DATASETS_ONLY)
    if data.name.startswith(FOLDER_PREFIX):
        path = data.name[len(FOLDER_PREFIX):]
        if not is_server_upload(path):
            raise JobError(DATASETS_ONLY)
        data = dataclasses.replace(data, name=f"{FOLDER_PREFIX}{Path(path).expanduser().resolve()}")
        uploads.touch(Path(path))  # in use: the last to be evicted while the job waits
    values = data.train_values()
    if values > limits.max_train_values:
        raise JobError(f"That training set is too large for this server ({values:,} values; images x channels x "
                       f"height x width may be at most {limits.max_train_values:,}). Use fewer or smaller images.")
    return data


def _check_shared(spec: RunSpec) -> None:
    """Classroom/public: CPU only, no checkpoint from elsewhere, bounded model and final estimate."""
    import torch

    from vae.models import VAE

    if spec.device != "cpu":
        raise JobError("Jobs train on the CPU on this server.")
    if spec.resume is not None:
        raise JobError("A new job cannot start from a checkpoint here; resume one of your jobs instead.")
    if spec.final_iwae_k > MAX_IWAE_K:
        raise JobError(f"final_iwae_k may be at most {MAX_IWAE_K} on this server.")
    with torch.device("meta"):  # counts the parameters without allocating them
        params = sum(p.numel() for p in VAE(spec.model).parameters())
    if params > MAX_MODEL_PARAMS:
        raise JobError(f"That model has {params:,} parameters; at most {MAX_MODEL_PARAMS:,} on this server.")


def check_spec(spec: RunSpec, limits: settings.Limits, mode: str) -> RunSpec:
    """``spec`` as the registry runs it (``threads`` 0 becomes 1; a shared server uses 1), or a
    JobError saying which limit it breaks. Reads no data."""
    if not isinstance(spec, RunSpec):
        raise TypeError(f"submit needs a RunSpec, got {type(spec).__name__}")
    _check_train(spec.train, limits)
    if mode in SHARED_MODES:
        _check_shared(spec)
    data = _check_data(spec.data, limits)
    threads = 1 if mode in SHARED_MODES else (spec.threads or 1)
    return dataclasses.replace(spec, data=data, threads=threads)


class JobRegistry:
    """Start, stop, resume and watch training jobs; one instance per server process. ``limits``
    and ``mode`` default to the server's settings."""

    def __init__(self, root: Path, models_dir: Path, max_running: int = 1, reap_after_s: float = 3600.0,
                 poll_s: float = 0.2, python: str = sys.executable, limits: settings.Limits | None = None,
                 mode: str | None = None, grace_s: float = 10.0) -> None:
        self.root, self.models_dir = Path(root).absolute(), Path(models_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self._held = jobstore.hold_folder(self.root)
        if self._held is None:
            raise JobError(f"Another job registry is using the jobs folder {self.root}; close it first.")
        self.max_running, self.reap_after_s, self.poll_s, self.python = max_running, reap_after_s, poll_s, python
        self.limits = limits if limits is not None else settings.limits()
        self.mode, self.grace_s = mode or settings.mode(), grace_s
        self._jobs: dict[str, JobStatus] = {}
        self._workers: dict[str, Worker] = {}
        self._offsets: dict[str, int] = {}
        self._lock = threading.RLock()
        self._closed = threading.Event()
        with self._lock:
            self._restore()
            self._schedule()
        self._thread = threading.Thread(target=self._monitor, name="vae-job-monitor", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        _OPEN.add(self)

    # ----- requests -------------------------------------------------------------------------
    def submit(self, name: str, spec: RunSpec, actor: Actor = LOCAL, overwrite: bool = False) -> str:
        """Queue a job for ``actor`` that trains ``spec`` and saves the model as ``name`` in the
        actor's models folder (the spec's ``out`` becomes that folder); returns its id."""
        if not isinstance(actor, Actor):
            raise TypeError(f"submit needs an Actor, got {type(actor).__name__}")
        self._check_may_train(actor.workspace)
        if self.mode in SHARED_MODES and actor.workspace is None and not actor.teacher:
            raise JobError("Training needs your own workspace: open the app from your workspace link.")
        check_model_name(name)
        out = validate_name(name, models_dir_for(actor, self.models_dir), overwrite)
        full = dataclasses.replace(check_spec(spec, self.limits, self.mode), out=str(out))
        with self._lock:
            self._check_may_train(actor.workspace)
            job_id = uuid.uuid4().hex[:12]
            if not take_lock(out, job_id, self._is_active):
                raise JobError(f"A job is already training a model called '{name}'.")
            job_dir = self.root / job_id
            job_dir.mkdir(parents=True)
            (job_dir / "spec.json").write_text(full.to_json(), encoding="utf-8")
            job = self._jobs[job_id] = JobStatus(id=job_id, name=name, spec=full, owner=actor.workspace,
                                                 job_dir=str(job_dir), epochs=full.train.epochs)
            self._save(job)
            self._schedule()
        return job_id

    def stop(self, job_id: str, actor: Actor = LOCAL) -> None:
        """A queued job is cancelled; a running one stops after its current step and saves."""
        with self._lock:
            job = self._owned(job_id, actor, "stop")
            if job.state == "queued":
                job.state, job.finished = "stopped", time.time()
                self._ended(job)
                self._schedule()
            elif job.state == "running":
                (Path(job.job_dir) / "stop").touch()
                job.state = "stopping"
                self._save(job)

    def resume(self, job_id: str, epochs: int | None = None, actor: Actor = LOCAL) -> None:
        """Continue a stopped job (to ``epochs`` in all, if given) from its last checkpoint: the
        spec's ``resume`` becomes the job's ``checkpoint`` folder (if it has one; a job cancelled
        before its first save starts afresh)."""
        with self._lock:
            job = self._owned(job_id, actor, "resume")
            if epochs is not None and not _is_count(epochs):
                raise JobError("Epochs must be a whole number.")
            if job.state not in ("stopped", "failed") and not (job.state == "done" and epochs and epochs > job.epochs):
                raise JobError(f"Job {job_id} is {job.state}; only a stopped job (or a finished one given more "
                               "epochs) can be resumed.")
            train = self._resumed_train(job, epochs)
            self._check_may_train(job.owner)
            if not take_lock(Path(job.spec.out_dir), job.id, self._is_active):
                raise JobError(f"A job is already training a model called '{job.name}'.")
            job_dir = Path(job.job_dir)
            ck = job_dir / CHECKPOINT
            job.spec = dataclasses.replace(job.spec, train=train, resume=str(ck) if ck.is_dir() else job.spec.resume)
            job.epochs = train.epochs
            (job_dir / "spec.json").write_text(job.spec.to_json(), encoding="utf-8")
            (job_dir / "stop").unlink(missing_ok=True)
            job.state, job.error, job.stop_reason, job.finished, job.created = "queued", None, None, None, time.time()
            self._save(job)
            self._schedule()

    def status(self, job_id: str) -> JobStatus:
        """A copy of the job's status (safe to read while the monitor updates the original); anyone
        with the id may read it (a shared link is a read-only view)."""
        with self._lock:
            return copy.deepcopy(self._get(job_id))

    def list(self, actor: Actor | None = None, ids: list[str] | None = None) -> list[JobStatus]:
        """Jobs, oldest first: all of them for ``actor`` None (the server's own view) or a teacher,
        else the actor's own; only those in ``ids`` when given. (A list as the first argument is
        taken as ``ids``, as before there were actors.)"""
        if actor is not None and not isinstance(actor, Actor):
            actor, ids = None, actor
        with self._lock:
            jobs = [j for j in self._jobs.values() if (ids is None or j.id in ids)
                    and (actor is None or actor.teacher or j.owner == actor.workspace)]
            return [copy.deepcopy(j) for j in sorted(jobs, key=lambda j: j.created)]

    def close(self, kill: bool = True) -> None:
        """Stop the monitor. With ``kill`` (a clean server shutdown; also run at exit) running workers
        are asked to stop (SIGTERM: they save a checkpoint), so their jobs can be resumed after a
        restart; without it they keep running, for the next registry to adopt."""
        atexit.unregister(self.close)
        _OPEN.discard(self)
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._lock:
            if kill:
                self._stop_workers()
            os.close(self._held)  # the next registry may take over the folder

    def _stop_workers(self) -> None:
        jobstore.stop_all(list(self._workers.values()), self.grace_s)
        for job_id in list(self._workers):
            job = self._jobs[job_id]
            self._read_events(job)
            del self._workers[job_id]
            if job.state not in FINAL:
                job.state, job.finished, job.stop_reason = "stopped", time.time(), SHUT_DOWN
            self._ended(job)

    # ----- checks ---------------------------------------------------------------------------
    def _check_may_train(self, owner: str | None) -> None:
        cap = self.limits.jobs_per_workspace
        if cap <= 0:
            raise JobError("Training is turned off on this server.")
        with self._lock:
            active = sum(1 for j in self._jobs.values() if j.owner == owner and j.state in ACTIVE)
        if active >= cap:
            raise JobError(f"You already have {active} job{'s' if active != 1 else ''} queued or running (at most "
                           f"{cap} here); stop one or wait for it to finish.")

    def _owned(self, job_id: str, actor: Actor, verb: str) -> JobStatus:
        job = self._get(job_id)
        if not isinstance(actor, Actor) or not actor.owns(job.owner):
            raise JobAccessError(f"Only the student who started this job (or the teacher) can {verb} it.")
        return job

    def _resumed_train(self, job: JobStatus, epochs: int | None) -> TrainConfig:
        try:
            train = dataclasses.replace(job.spec.train, epochs=epochs) if epochs else job.spec.train
        except ConfigError as exc:
            raise JobError(str(exc)) from None
        _check_train(train, self.limits)
        return train

    def _is_active(self, job_id: str) -> bool:
        job = self._jobs.get(job_id)
        return job is not None and job.state in ACTIVE

    # ----- internals ------------------------------------------------------------------------
    def _get(self, job_id: str) -> JobStatus:
        if not isinstance(job_id, str) or job_id not in self._jobs:
            raise JobError(f"No job with id '{job_id}' (it may have been cleaned up).")
        return self._jobs[job_id]

    def _save(self, job: JobStatus) -> None:
        save_record(job, self._workers.get(job.id))

    def _ended(self, job: JobStatus) -> None:
        """The job is final and has no worker: free its output name and record it."""
        release_lock(Path(job.spec.out_dir), job.id)
        self._save(job)

    def _read_events(self, job: JobStatus) -> None:
        self._offsets[job.id] = read_events(job, self._offsets.get(job.id, 0))

    def _restore(self) -> None:
        """Rebuild the jobs recorded in the jobs folder; adopt their workers that still run."""
        for job, worker, offset in jobstore.restore(self.root):
            self._jobs[job.id], self._offsets[job.id] = job, offset
            if worker is not None:
                self._workers[job.id] = worker
        jobstore.clear_stale_locks(self.models_dir, self._is_active)
        for job in self._jobs.values():
            if job.state in ACTIVE:
                take_lock(Path(job.spec.out_dir), job.id, self._is_active)
            self._save(job)

    def _schedule(self) -> None:
        running = sum(1 for j in self._jobs.values() if j.state in ("running", "stopping"))
        queued = sorted((j for j in self._jobs.values() if j.state == "queued"), key=lambda j: j.created)
        for job in queued:
            if running >= self.max_running:
                break
            self._start(job)
            running += 1
        for pos, job in enumerate((j for j in queued if j.state == "queued"), start=1):
            job.queue_position = pos

    def _start(self, job: JobStatus) -> None:
        job_dir = Path(job.job_dir)
        env = {**os.environ, "OMP_NUM_THREADS": str(job.spec.threads or 1)}
        argv = [self.python, "-m", "services.worker", str(job_dir)]
        if self.limits.job_time_limit_s:
            argv += ["--time-limit", str(self.limits.job_time_limit_s)]
        self._workers[job.id] = Worker.spawn(argv, job_dir, env, cwd=str(Path(__file__).resolve().parents[1]))
        job.state, job.started, job.queue_position = "running", time.time(), None
        self._offsets.setdefault(job.id, 0)
        self._save(job)

    def _monitor(self) -> None:
        while not self._closed.wait(self.poll_s):
            try:
                self._tick()
            except Exception as exc:  # never let one bad event stop the monitor
                print(f"services.jobs monitor: {type(exc).__name__}: {exc}", file=sys.stderr)

    def _tick(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            for job_id, worker in list(self._workers.items()):
                job = self._jobs[job_id]
                self._read_events(job)
                code = worker.poll()
                if code is not None:
                    self._read_events(job)
                    del self._workers[job_id]
                    if job.state not in FINAL:
                        tail = jobstore.log_tail(Path(job.job_dir) / "worker.log")
                        job.state, job.finished = "failed", time.time()
                        shown = f" (exit code {code})" if code >= 0 else ""
                        job.error = f"the training process ended unexpectedly{shown}. {tail}".strip()
                    self._ended(job)
            self._schedule()
            self._reap()

    def _reap(self) -> None:
        """Forget final jobs (of anyone) ``reap_after_s`` after they ended, and remove their folders."""
        now = time.time()
        for job_id, job in list(self._jobs.items()):
            if job.state in FINAL and job.finished and now - job.finished > self.reap_after_s \
                    and job_id not in self._workers:
                del self._jobs[job_id]
                self._offsets.pop(job_id, None)
                shutil.rmtree(job.job_dir, ignore_errors=True)


__all__ = ["ACTIVE", "FINAL", "JobAccessError", "JobError", "JobRegistry", "JobStatus", "check_spec",
           "is_server_upload", "validate_name"]
