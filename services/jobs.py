"""The registry of background training jobs, shared by a class and by every replica of the app.

The jobs folder is the truth: any registry may change a job's ``job.json`` (services/jobstore.py)
while it holds the folder's lock, so app servers on the same folders (``deploy/run_local.sh``) show
the same jobs, and any of them stops or resumes a job another started. A registry's memory is a
cache of the folder, re-read under the lock and every ``poll_s``. Workers run through a backend
(services/backends.py: local processes or Ray); at most ``max_running`` run over the whole folder,
the rest queue. The server that started a worker watches it to its end (any other, once it is
gone). Only a job's workspace (or the teacher) stops or resumes it; requests are checked against
the server's limits first (services/jobchecks.py). Final jobs are reaped after ``reap_after_s``.
"""
from __future__ import annotations

import atexit
import contextlib
import copy
import dataclasses
import shutil
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

from services import backends, jobstore
from services.backends import Backend, BackendError, LocalBackend
from services.jobchecks import (
    DATASETS_ONLY,
    SHARED_MODES,
    JobAccessError,
    JobError,
    check_model_name,
    check_spec,
    check_train,
    is_count,
    is_server_upload,
    validate_name,
)
from services.joblocks import FolderLock, ServerMark, clear_stale_locks, release_lock, take_lock
from services.jobstore import ACTIVE, FINAL, JOB_ID_RE, RESTARTED, Entry, JobStatus, handle_of, read_events, run_ended
from services.workspace import LOCAL, Actor, models_dir_for
from vae import settings
from vae.config import ConfigError, TrainConfig
from vae.runspec import RunSpec

CHECKPOINT = "checkpoint"  # the worker's resumable per-epoch checkpoint, inside the job folder
SHUT_DOWN = "the server shut down"
RUNNING = ("running", "stopping")

_OPEN: weakref.WeakSet = weakref.WeakSet()  # registries not closed yet


def close_all() -> None:
    """Close every open registry as at a clean shutdown; for servers whose exit skips ``atexit`` (serve.py)."""
    for registry in list(_OPEN):
        registry.close()


class JobRegistry:
    """Start, stop, resume and watch training jobs; one instance per server process, any number of
    them per jobs folder. ``limits``, ``mode`` and ``backend`` default to the server's settings."""

    def __init__(self, root: Path, models_dir: Path, max_running: int = 1, reap_after_s: float = 3600.0,
                 poll_s: float = 0.2, python: str = sys.executable, limits: settings.Limits | None = None,
                 mode: str | None = None, grace_s: float = 10.0, backend: Backend | None = None) -> None:
        self.root, self.models_dir = Path(root).absolute(), Path(models_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        if backend is None:
            backend = LocalBackend(python) if settings.jobs_backend() == "local" else backends.from_settings()
        self.backend = backend
        self.max_running, self.reap_after_s, self.poll_s = max_running, reap_after_s, poll_s
        self.limits = limits if limits is not None else settings.limits()
        self.mode, self.grace_s = mode or settings.mode(), grace_s
        self._entries: dict[str, Entry] = {}
        self._skipped: set[str] = set()
        self._others: dict[str, Backend] = {}  # backends of jobs another replica started elsewhere
        self._view = threading.RLock()  # this process's readers and writers of the cache
        self._folder = FolderLock(self.root / ".registry.lock")
        self._mark = ServerMark(self.root)
        self._closed = threading.Event()
        with self._changing():
            clear_stale_locks(self.models_dir, self._is_active)
        self._tick()
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
        with self._changing():
            self._check_may_train(actor.workspace)
            job_id = uuid.uuid4().hex[:12]
            if not take_lock(out, job_id, self._is_active):
                raise JobError(f"A job is already training a model called '{name}'.")
            job_dir = self.root / job_id
            job_dir.mkdir(parents=True)
            (job_dir / "spec.json").write_text(full.to_json(), encoding="utf-8")
            job = JobStatus(id=job_id, name=name, spec=full, owner=actor.workspace, job_dir=str(job_dir),
                            epochs=full.train.epochs)
            entry = self._entries[job_id] = Entry(job, {"worker": None})
            self._save(entry)
            self._schedule()
        return job_id

    def stop(self, job_id: str, actor: Actor = LOCAL) -> None:
        """A queued job is cancelled; a running one stops after its current step and saves."""
        with self._changing():
            entry = self._owned(job_id, actor, "stop")
            job = entry.job
            if entry.state == "queued":
                job.state, job.finished = "stopped", time.time()
                self._ended(entry)
                self._schedule()
            elif entry.state == "running" and job.state == "running":
                (Path(job.job_dir) / "stop").touch()  # the worker reads it, wherever it runs
                handle = handle_of(entry.record)
                if handle is not None and (backend := self._backend_of(handle)) is not None:
                    backend.cancel(handle)
                job.state = "stopping"
                self._save(entry)

    def resume(self, job_id: str, epochs: int | None = None, actor: Actor = LOCAL) -> None:
        """Continue a stopped job (to ``epochs`` in all, if given) from its last checkpoint: the
        spec's ``resume`` becomes the job's ``checkpoint`` folder (if it has one; a job cancelled
        before its first save starts afresh)."""
        with self._changing():
            entry = self._owned(job_id, actor, "resume")
            job = entry.job
            self._settle(entry)
            if entry.state in RUNNING and job.state in FINAL:
                raise JobError(f"Job {job_id} is still saving and exiting; try again in a moment.")
            if epochs is not None and not is_count(epochs):
                raise JobError("Epochs must be a whole number.")
            done_more = entry.state == "done" and epochs and epochs > job.epochs
            if entry.state not in ("stopped", "failed") and not done_more:
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
            entry.record["worker"] = None
            self._save(entry)
            self._schedule()

    def status(self, job_id: str) -> JobStatus:
        """A copy of the job's status (safe to read while the monitor updates the original); anyone
        with the id may read it (a shared link is a read-only view). An id not seen yet (just
        submitted through another replica) makes the registry re-read the folder first."""
        with self._view:
            if job_id in self._entries:
                return copy.deepcopy(self._entries[job_id].job)
        if isinstance(job_id, str) and JOB_ID_RE.fullmatch(job_id):
            with self._changing():
                pass
        with self._view:
            return copy.deepcopy(self._get(job_id).job)

    def list(self, actor: Actor | None = None, ids: list[str] | None = None) -> list[JobStatus]:
        """Jobs, oldest first: all of them for ``actor`` None (the server's own view) or a teacher,
        else the actor's own; only those in ``ids`` when given. (A list as the first argument is
        taken as ``ids``, as before there were actors.)"""
        if actor is not None and not isinstance(actor, Actor):
            actor, ids = None, actor
        with self._view:
            jobs = [e.job for e in self._entries.values() if (ids is None or e.job.id in ids)
                    and (actor is None or actor.teacher or e.job.owner == actor.workspace)]
            return [copy.deepcopy(j) for j in sorted(jobs, key=lambda j: j.created)]

    def close(self, kill: bool = True) -> None:
        """Stop the monitor. With ``kill`` (a clean server shutdown; also run at exit) the local
        workers this server started (or adopted from a server that is gone) are asked to stop
        (SIGTERM: they save a checkpoint), so their jobs can be resumed; without it they keep
        running, for another registry to watch. Jobs on a cluster (Ray) are never stopped here."""
        atexit.unregister(self.close)
        _OPEN.discard(self)
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._changing():
            if kill:
                self._stop_workers()
            self._mark.close()
        self._folder.close()

    def _stop_workers(self) -> None:
        mine = [e for e in self._entries.values() if e.state in RUNNING and self._watches(e)
                and (h := handle_of(e.record)) is not None and h.get("backend", "local") == "local"]
        local = self._backend_of({"backend": "local"})
        if not mine or local is None:
            return
        local.terminate([handle_of(e.record) for e in mine], self.grace_s, [Path(e.job.job_dir) for e in mine])
        for entry in mine:
            job = entry.job
            entry.offset = read_events(job, entry.offset)
            if not run_ended(job, entry.record):
                job.state, job.finished, job.stop_reason = "stopped", time.time(), SHUT_DOWN
            self._ended(entry)

    # ----- checks ---------------------------------------------------------------------------
    def _check_may_train(self, owner: str | None) -> None:
        cap = self.limits.jobs_per_workspace
        if cap <= 0:
            raise JobError("Training is turned off on this server.")
        with self._view:
            active = sum(1 for e in self._entries.values() if e.job.owner == owner and e.state in ACTIVE)
        if active >= cap:
            raise JobError(f"You already have {active} job{'s' if active != 1 else ''} queued or running (at most "
                           f"{cap} here); stop one or wait for it to finish.")

    def _owned(self, job_id: str, actor: Actor, verb: str) -> Entry:
        entry = self._get(job_id)
        if not isinstance(actor, Actor) or not actor.owns(entry.job.owner):
            raise JobAccessError(f"Only the student who started this job (or the teacher) can {verb} it.")
        return entry

    def _resumed_train(self, job: JobStatus, epochs: int | None) -> TrainConfig:
        try:
            train = dataclasses.replace(job.spec.train, epochs=epochs) if epochs else job.spec.train
        except ConfigError as exc:
            raise JobError(str(exc)) from None
        check_train(train, self.limits)
        return train

    def _is_active(self, job_id: str) -> bool:
        entry = self._entries.get(job_id)
        return entry is not None and entry.state in ACTIVE

    # ----- the shared folder ----------------------------------------------------------------
    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the folder's lock (other replicas wait) with the cache freshly re-read from it."""
        with self._folder as outermost, self._view:
            if outermost:
                self._sync()
            yield

    def _sync(self) -> None:
        """Re-read what other replicas changed: new and removed job folders, changed records
        (read whole again), and the new events of jobs that run."""
        seen = set()
        for job_dir in jobstore.job_folders(self.root):
            seen.add(job_dir.name)
            entry, now = self._entries.get(job_dir.name), jobstore.stamp(job_dir)
            if entry is not None and entry.stamp == now:
                if entry.state in RUNNING:
                    entry.offset = read_events(entry.job, entry.offset)
                continue
            try:
                job, record, offset = jobstore.load_job(job_dir)
            except (OSError, ValueError) as exc:  # incl. ConfigError, JSONDecodeError: leave it alone
                if job_dir.name not in self._skipped:
                    self._skipped.add(job_dir.name)
                    print(f"services.jobs: skipped job folder {job_dir}: {exc}", file=sys.stderr)
                continue
            self._skipped.discard(job_dir.name)
            self._entries[job_dir.name] = Entry(job, record, offset, now)
        for job_id in set(self._entries) - seen:
            del self._entries[job_id]  # reaped by another replica

    def _get(self, job_id: str) -> Entry:
        if not isinstance(job_id, str) or job_id not in self._entries:
            raise JobError(f"No job with id '{job_id}' (it may have been cleaned up).")
        return self._entries[job_id]

    def _save(self, entry: Entry) -> None:
        jobstore.save_record(entry.job, entry.record)
        entry.stamp = jobstore.stamp(Path(entry.job.job_dir))

    def _ended(self, entry: Entry) -> None:
        """The job is final and has no worker: free its output name and record it."""
        release_lock(Path(entry.job.spec.out_dir), entry.job.id)
        if entry.record.get("worker"):
            entry.record["last_worker"] = entry.record["worker"]  # e.g. the Ray submission id, to look up its logs
        entry.record["worker"] = None
        self._save(entry)

    def _backend_of(self, handle: dict) -> Backend | None:
        return backends.backend_of(handle, self.backend, self._others)

    def _watches(self, entry: Entry) -> bool:
        """This registry watches a worker it started, or one whose server is gone."""
        server = entry.record.get("server")
        return server == self._mark.token or not ServerMark.is_open(self.root, server)

    # ----- the monitor ----------------------------------------------------------------------
    def _monitor(self) -> None:
        while not self._closed.wait(self.poll_s):
            try:
                self._tick()
            except Exception as exc:  # never let one bad event stop the monitor
                print(f"services.jobs monitor: {type(exc).__name__}: {exc}", file=sys.stderr)

    def _tick(self) -> None:
        """Re-read the folder, ask the backends (outside the lock: Ray's answer comes over the
        network) whether the watched workers still run, then record the ends and start queued jobs."""
        with self._changing():
            watched = [(e.job.id, handle_of(e.record), Path(e.job.job_dir)) for e in self._entries.values()
                       if e.state in RUNNING and self._watches(e)]
        ended = []
        for job_id, handle, job_dir in watched:
            backend = self._backend_of(handle) if handle is not None else None
            code = -1 if handle is None else (backend.poll(handle, job_dir) if backend is not None else None)
            if code is not None:
                ended.append((job_id, handle, code, backend))
        with self._changing():
            if self._closed.is_set() and ended:
                return
            for job_id, handle, code, backend in ended:
                entry = self._entries.get(job_id)
                if entry is not None and entry.state in RUNNING and handle_of(entry.record) == handle:
                    self._finish(entry, code, backend)
            self._schedule()
            self._reap()

    def _finish(self, entry: Entry, code: int, backend: Backend | None) -> None:
        job = entry.job
        entry.offset = read_events(job, entry.offset)
        if not run_ended(job, entry.record):
            job.state, job.finished = "failed", time.time()
            if backend is not None and (entry.record.get("server") == self._mark.token or backend.keeps_jobs):
                tail = backend.failure(handle_of(entry.record), Path(job.job_dir))
                shown = f" (exit code {code})" if code >= 0 else ""
                job.error = f"the training process ended unexpectedly{shown}. {tail}".strip()
            else:
                job.error = RESTARTED
        self._ended(entry)

    def _settle(self, entry: Entry, wait_s: float = 3.0) -> None:
        """A run whose events say it ended while its worker is still exiting: wait for the exit
        (briefly) and record the end, so that it can be resumed at once."""
        handle = handle_of(entry.record)
        if entry.state not in RUNNING or handle is None or not run_ended(entry.job, entry.record):
            return
        backend = self._backend_of(handle)
        deadline = time.monotonic() + wait_s
        while backend is not None and time.monotonic() < deadline:
            code = backend.poll(handle, Path(entry.job.job_dir))
            if code is not None:
                self._finish(entry, code, backend)
                return
            time.sleep(0.1)

    def _schedule(self) -> None:
        running = sum(1 for e in self._entries.values() if e.state in RUNNING)
        queued = sorted((e for e in self._entries.values() if e.state == "queued"), key=lambda e: e.job.created)
        for entry in queued:
            if running >= self.max_running:
                break
            self._start(entry)
            running += 1
        for pos, entry in enumerate((e for e in queued if e.state == "queued"), start=1):
            entry.job.queue_position = pos

    def _start(self, entry: Entry) -> None:
        job, job_dir = entry.job, Path(entry.job.job_dir)
        events_from = jobstore.events_size(job_dir)  # before the worker can write its first event
        try:
            handle = self.backend.start(job_dir, job.spec, self.limits.job_time_limit_s)
        except BackendError as exc:
            job.state, job.finished, job.error = "failed", time.time(), str(exc)
            self._ended(entry)
            return
        entry.record.update(worker=handle, server=self._mark.token, events_from=events_from)
        job.state, job.started, job.queue_position = "running", time.time(), None
        self._save(entry)

    def _reap(self) -> None:
        """Forget final jobs (of anyone) ``reap_after_s`` after they ended, and remove their folders."""
        now = time.time()
        for job_id, entry in list(self._entries.items()):
            job = entry.job
            if entry.state in FINAL and job.finished and now - job.finished > self.reap_after_s:
                del self._entries[job_id]
                shutil.rmtree(job.job_dir, ignore_errors=True)


__all__ = ["ACTIVE", "DATASETS_ONLY", "FINAL", "JobAccessError", "JobError", "JobRegistry", "JobStatus", "check_spec",
           "close_all", "is_server_upload", "validate_name"]
