"""A process-wide registry of background training jobs.

Each job is a ``python -m services.worker JOB_DIR`` subprocess (so a crash or an out-of-memory
kill takes down only that job, and its torch thread count is its own). At most
``max_running`` run at once; the rest wait in submission order. A monitor thread reads each
job's ``events.jsonl`` and keeps an in-memory status that any session can read by job id.
Finished jobs are reaped ``reap_after_s`` seconds after they end. No Streamlit here.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from services.events import Done, Epoch, Event, EventError, Failed, Started, Step, Stopped, parse_line
from vae.config import ConfigError
from vae.runspec import RunSpec

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ACTIVE = ("queued", "running", "stopping")
FINAL = ("done", "stopped", "failed")
CHECKPOINT = "checkpoint"  # the worker's resumable per-epoch checkpoint, inside the job folder


class JobError(ValueError):
    """A request the registry refuses (bad name, unknown job, wrong state); the message says why."""


def validate_name(name: str, models_dir: Path, overwrite: bool = False) -> Path:
    """The output folder for model ``name``; refuses path tricks and silent overwrites."""
    if not NAME_RE.fullmatch(name or "") or name in (".", "..") or ".." in name:
        raise JobError("Model names use letters, digits, '-', '_' and '.', start with a letter or digit, "
                       "and are at most 64 characters (no slashes or '..').")
    out = (models_dir / name).resolve()
    if out.parent != models_dir.resolve():
        raise JobError(f"'{name}' would be saved outside the models folder.")
    if out.exists() and not overwrite:
        raise JobError(f"A model called '{name}' already exists. Choose another name, or tick "
                       "'replace an existing model of the same name'.")
    return out


@dataclass
class JobStatus:
    """What a page shows about one job. ``spec``: the RunSpec it trains (as in ``spec.json``);
    ``steps``: (step, recon, kl) points; ``epoch_log``: per-epoch dicts with train/test numbers and a
    preview ``image`` file name."""

    id: str
    name: str
    spec: RunSpec
    state: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    epoch_step: int = 0
    eta_s: float | None = None
    samples_per_s: float | None = None
    error: str | None = None
    data: str = ""
    model_path: str | None = None
    steps: list[tuple[int, float, float]] = field(default_factory=list)
    epoch_log: list[dict] = field(default_factory=list)
    queue_position: int | None = None
    job_dir: str = ""

    @property
    def progress(self) -> float:
        total = self.epochs * max(self.steps_per_epoch, 1)
        return min(1.0, self.step / total) if total else 0.0


class JobRegistry:
    """Start, stop, resume and watch training jobs; one instance per server process."""

    def __init__(self, root: Path, models_dir: Path, max_running: int = 1, reap_after_s: float = 3600.0,
                 poll_s: float = 0.2, python: str = sys.executable) -> None:
        self.root, self.models_dir = Path(root), Path(models_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_running, self.reap_after_s, self.poll_s, self.python = max_running, reap_after_s, poll_s, python
        self._jobs: dict[str, JobStatus] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._offsets: dict[str, int] = {}
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._monitor, name="vae-job-monitor", daemon=True)
        self._thread.start()

    # ----- requests -------------------------------------------------------------------------
    def submit(self, name: str, spec: RunSpec, overwrite: bool = False) -> str:
        """Queue a job that trains ``spec`` and saves the model as ``name`` (the spec's ``out`` becomes
        that folder; ``threads`` 0 becomes 1, so a job never takes every core); returns its id."""
        if not isinstance(spec, RunSpec):
            raise TypeError(f"submit needs a RunSpec, got {type(spec).__name__}")
        out = validate_name(name, self.models_dir, overwrite)
        with self._lock:
            if any(j.name == name and j.state in ACTIVE for j in self._jobs.values()):
                raise JobError(f"A job is already training a model called '{name}'.")
            job_id = uuid.uuid4().hex[:12]
            job_dir = self.root / job_id
            job_dir.mkdir(parents=True)
            full = dataclasses.replace(spec, out=str(out), threads=spec.threads or 1)
            (job_dir / "spec.json").write_text(full.to_json(), encoding="utf-8")
            self._jobs[job_id] = JobStatus(id=job_id, name=name, spec=full, job_dir=str(job_dir),
                                           epochs=full.train.epochs)
            self._schedule()
        return job_id

    def stop(self, job_id: str) -> None:
        """A queued job is cancelled; a running one stops after its current step and saves."""
        with self._lock:
            job = self._get(job_id)
            if job.state == "queued":
                job.state, job.finished = "stopped", time.time()
                self._schedule()
            elif job.state == "running":
                (Path(job.job_dir) / "stop").touch()
                job.state = "stopping"

    def resume(self, job_id: str, epochs: int | None = None) -> None:
        """Continue a stopped job (to ``epochs`` in all, if given) from its last checkpoint: the
        spec's ``resume`` becomes the job's ``checkpoint`` folder (if it has one; a job cancelled
        before its first save starts afresh)."""
        with self._lock:
            job = self._get(job_id)
            if job.state not in ("stopped", "failed") and not (job.state == "done" and epochs and epochs > job.epochs):
                raise JobError(f"Job {job_id} is {job.state}; only a stopped job (or a finished one given more "
                               "epochs) can be resumed.")
            job_dir = Path(job.job_dir)
            ck = job_dir / CHECKPOINT
            try:
                train = dataclasses.replace(job.spec.train, epochs=int(epochs)) if epochs else job.spec.train
            except ConfigError as exc:
                raise JobError(str(exc)) from None
            job.spec = dataclasses.replace(job.spec, train=train, resume=str(ck) if ck.is_dir() else job.spec.resume)
            job.epochs = train.epochs
            (job_dir / "spec.json").write_text(job.spec.to_json(), encoding="utf-8")
            (job_dir / "stop").unlink(missing_ok=True)
            job.state, job.error, job.finished, job.created = "queued", None, None, time.time()
            self._schedule()

    def status(self, job_id: str) -> JobStatus:
        """A copy of the job's status (safe to read while the monitor updates the original)."""
        with self._lock:
            return copy.deepcopy(self._get(job_id))

    def list(self, ids: list[str] | None = None) -> list[JobStatus]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if ids is None or j.id in ids]
            return [copy.deepcopy(j) for j in sorted(jobs, key=lambda j: j.created)]

    def close(self, kill: bool = True) -> None:
        self._closed.set()
        if kill:
            for proc in list(self._procs.values()):
                proc.kill()
        self._thread.join(timeout=5)

    # ----- internals ------------------------------------------------------------------------
    def _get(self, job_id: str) -> JobStatus:
        if job_id not in self._jobs:
            raise JobError(f"No job with id '{job_id}' (it may have been cleaned up).")
        return self._jobs[job_id]

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
        with open(job_dir / "worker.log", "ab") as log:  # the child keeps its own copy of the handle
            self._procs[job.id] = subprocess.Popen([self.python, "-m", "services.worker", str(job_dir)], stdout=log,
                                                   stderr=subprocess.STDOUT, env=env,
                                                   cwd=str(Path(__file__).resolve().parents[1]))
        job.state, job.started, job.queue_position = "running", time.time(), None
        self._offsets.setdefault(job.id, 0)

    def _monitor(self) -> None:
        while not self._closed.wait(self.poll_s):
            try:
                self._tick()
            except Exception as exc:  # never let one bad event stop the monitor
                print(f"services.jobs monitor: {type(exc).__name__}: {exc}", file=sys.stderr)

    def _tick(self) -> None:
        with self._lock:
            for job_id, proc in list(self._procs.items()):
                job = self._jobs[job_id]
                self._read_events(job)
                code = proc.poll()
                if code is not None:
                    self._read_events(job)
                    del self._procs[job_id]
                    if job.state not in FINAL:
                        tail = (Path(job.job_dir) / "worker.log").read_text(errors="replace")[-800:]
                        job.state, job.finished = "failed", time.time()
                        job.error = f"the training process ended unexpectedly (exit code {code}). {tail}".strip()
            self._schedule()
            self._reap()

    def _read_events(self, job: JobStatus) -> None:
        path = Path(job.job_dir) / "events.jsonl"
        if not path.exists():
            return
        with open(path, "rb") as fh:
            fh.seek(self._offsets.get(job.id, 0))
            chunk = fh.read()
        end = chunk.rfind(b"\n") + 1  # only whole lines
        self._offsets[job.id] = self._offsets.get(job.id, 0) + end
        for line in chunk[:end].splitlines():
            if not line.strip():
                continue
            try:
                event = parse_line(line)
            except EventError as exc:  # log and skip it: one bad line must not stop the job's updates
                print(f"services.jobs: job {job.id}: skipped a bad event line: {exc}", file=sys.stderr)
                continue
            _apply(job, event)

    def _reap(self) -> None:
        now = time.time()
        for job_id, job in list(self._jobs.items()):
            if job.state in FINAL and job.finished and now - job.finished > self.reap_after_s \
                    and job_id not in self._procs:
                del self._jobs[job_id]
                self._offsets.pop(job_id, None)
                shutil.rmtree(job.job_dir, ignore_errors=True)


def _apply(job: JobStatus, ev: Event) -> None:
    """Fold one worker event into the job's status."""
    if isinstance(ev, Started):
        job.steps_per_epoch, job.epochs, job.data, job.step = ev.steps_per_epoch, ev.epochs, ev.data, ev.resumed_step
        job.steps = [s for s in job.steps if s[0] <= job.step]
        job.epoch_log = [e for e in job.epoch_log if e["epoch"] <= ev.resumed_from_epoch]
    elif isinstance(ev, Step):
        job.step, job.epoch, job.epoch_step = ev.step, ev.epoch, ev.epoch_step
        job.eta_s, job.samples_per_s = ev.eta_s, ev.samples_per_s
        job.steps.append((ev.step, ev.recon, ev.kl))
    elif isinstance(ev, Epoch):
        job.epoch_log.append({"epoch": ev.epoch, "train": ev.train, "test": ev.test, "seconds": ev.seconds,
                              "image": ev.image})
        job.eta_s = ev.eta_s
    elif isinstance(ev, Done):
        job.state, job.finished, job.model_path = "done", ev.time, ev.model_path
    elif isinstance(ev, Stopped):
        job.state, job.finished = "stopped", ev.time
    elif isinstance(ev, Failed):
        job.state, job.finished, job.error = "failed", ev.time, ev.error


__all__ = ["JobError", "JobRegistry", "JobStatus", "validate_name"]

