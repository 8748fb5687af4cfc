"""The job registry's state on disk, so that jobs outlive the server process.

Each job folder holds ``spec.json`` (the RunSpec), ``events.jsonl`` (the worker's progress events)
and ``job.json`` (written by a registry, under the folder lock: name, owner, times, the job's
state, the handle of its worker (services/backends.py), which server started it, and where in
``events.jsonl`` its current run began). The record's state is the truth every replica shares;
the events only add what happened since (a run that ended shows as ended before its record is
updated). :func:`load_job` rebuilds a :class:`JobStatus` from both. :class:`Worker` is a local
worker process: one this server started, or one it *adopted* (alive, with the recorded start time,
and running ``services.worker`` for that folder). :class:`ServerMark` tells whether the server that
started a worker is still open. A lock file beside each output folder (``.NAME.lock``, holding
the job id) keeps one writer per model name. Linux-only parts (``/proc``) degrade to "not
adoptable". No Streamlit here.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.events import Done, Epoch, Event, EventError, Failed, Started, Step, Stopped, parse_line
from vae.runspec import RunSpec

RECORD = "job.json"
JOB_ID_RE = re.compile(r"^[0-9a-f]{12}$")
ACTIVE = ("queued", "running", "stopping")
FINAL = ("done", "stopped", "failed")
RESTARTED = "the server restarted while this job was running; resume it to continue"
RECORD_FIELDS = ("id", "name", "owner", "created", "state", "started", "finished", "error", "stop_reason")


@dataclass
class JobStatus:
    """What a page shows about one job. ``owner``: the workspace id that started it (None: the
    local user or a teacher without one); ``spec``: the RunSpec it trains (as in ``spec.json``);
    ``steps``: (step, recon, kl) points; ``epoch_log``: per-epoch dicts with train/test numbers and
    a preview ``image`` file name; ``stop_reason``: why a stopped job stopped itself (None: asked to)."""

    id: str
    name: str
    spec: RunSpec
    owner: str | None = None
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
    stop_reason: str | None = None
    data: str = ""
    model_path: str | None = None
    steps: list[tuple[int, float, float]] = field(default_factory=list)
    epoch_log: list[dict] = field(default_factory=list)
    queue_position: int | None = None
    job_dir: str = ""
    ended_at: int = -1  # byte offset in events.jsonl of the last done/stopped/failed event (-1: none)

    @property
    def progress(self) -> float:
        total = self.epochs * max(self.steps_per_epoch, 1)
        return min(1.0, self.step / total) if total else 0.0

    @property
    def label(self) -> str:
        """The state in words: "queued (position 2)", "stopped: time limit of 30 min reached", ..."""
        if self.state == "queued" and self.queue_position:
            return f"queued (position {self.queue_position})"
        if self.state == "stopped" and self.stop_reason:
            return f"stopped: {self.stop_reason}"
        return {"stopping": "stopping…", "done": "finished"}.get(self.state, self.state)


@dataclass
class Entry:
    """One job as a registry last read it: its status, its ``job.json`` record, how far its
    events were read and the record's stamp (a change means another replica wrote it)."""

    job: JobStatus
    record: dict
    offset: int = 0
    stamp: tuple[int, int] | None = None

    @property
    def state(self) -> str:
        """The record's state: what every replica agrees on (the status may show a run's end sooner)."""
        return self.record.get("state", "queued")


def apply_event(job: JobStatus, ev: Event) -> None:
    """Fold one worker event into the job's status."""
    if isinstance(ev, Started):
        if job.state in FINAL:  # replaying a resumed job's log: a new run began
            job.state, job.finished, job.error, job.stop_reason = "running", None, None, None
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
        job.state, job.finished, job.stop_reason = "stopped", ev.time, ev.reason
    elif isinstance(ev, Failed):
        job.state, job.finished, job.error = "failed", ev.time, ev.error


def read_events(job: JobStatus, offset: int) -> int:
    """Apply the whole lines of the job's ``events.jsonl`` after byte ``offset``; the new offset.
    A bad line is logged and skipped: it must not stop the job's updates."""
    path = Path(job.job_dir) / "events.jsonl"
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
    except FileNotFoundError:
        return offset
    end = chunk.rfind(b"\n") + 1  # only whole lines
    at = offset
    for line in chunk[:end].split(b"\n")[:-1]:
        here, at = at, at + len(line) + 1
        if not line.strip():
            continue
        try:
            event = parse_line(line)
        except EventError as exc:
            print(f"services.jobs: job {job.id}: skipped a bad event line: {exc}", file=sys.stderr)
            continue
        apply_event(job, event)
        if isinstance(event, (Done, Stopped, Failed)):
            job.ended_at = here
    return offset + end


def events_size(job_dir: Path) -> int:
    """Bytes in the job's ``events.jsonl`` now: where a run started now begins."""
    try:
        return (Path(job_dir) / "events.jsonl").stat().st_size
    except FileNotFoundError:
        return 0


# ----- job.json ------------------------------------------------------------------------------
def save_record(job: JobStatus, record: dict) -> None:
    """Write ``job.json`` atomically (a reader never sees half a file): the job's fields over
    ``record`` (which keeps the worker handle, server and ``events_from``)."""
    record.update({k: getattr(job, k) for k in RECORD_FIELDS})
    path = Path(job.job_dir) / RECORD
    tmp = path.with_name(f".{RECORD}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def stamp(job_dir: Path) -> tuple[int, int] | None:
    """(mtime in ns, size) of ``job.json``: a changed stamp means another replica wrote it."""
    try:
        st = (Path(job_dir) / RECORD).stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def load_job(job_dir: Path) -> tuple[JobStatus, dict, int]:
    """The job in ``job_dir`` as its record and events tell it, the record, and the events
    offset read to. Raises OSError/ValueError for an unreadable folder."""
    record = json.loads((job_dir / RECORD).read_text(encoding="utf-8"))
    spec = RunSpec.from_json((job_dir / "spec.json").read_text(encoding="utf-8"))
    if not isinstance(record, dict) or record.get("id") != job_dir.name or not isinstance(record.get("name"), str):
        raise ValueError(f"{job_dir / RECORD} does not describe job {job_dir.name}")
    owner = record.get("owner")
    created = record.get("created")
    job = JobStatus(id=job_dir.name, name=record["name"], spec=spec, owner=owner if isinstance(owner, str) else None,
                    created=float(created) if isinstance(created, (int, float)) else time.time(),
                    started=record.get("started"), epochs=spec.train.epochs, job_dir=str(job_dir))
    offset = read_events(job, 0)  # curves and epoch log; the state as the events tell it
    apply_record(job, record)
    return job, record, offset


def run_ended(job: JobStatus, record: dict) -> bool:
    """True when the events show the current run (begun at the record's ``events_from``) ended."""
    start = record.get("events_from")
    return job.state in FINAL and job.ended_at >= (start if isinstance(start, int) else 0)


def apply_record(job: JobStatus, record: dict) -> None:
    """Set the job's state from its record: queued and final records are the truth; a running
    (or stopping) one shows as ended once its run's events say so."""
    state = record.get("state")
    if state == "queued":
        job.state, job.finished, job.error, job.stop_reason = "queued", None, None, None
    elif state in FINAL:
        job.state, job.finished = state, record.get("finished")
        job.error, job.stop_reason = record.get("error"), record.get("stop_reason")
    elif state in ("running", "stopping"):
        if not run_ended(job, record):
            job.state = state
    else:
        job.state, job.error = "failed", f"unknown state {state!r} in the job's record"


def handle_of(record: dict) -> dict | None:
    worker = record.get("worker")
    return worker if isinstance(worker, dict) else None


def job_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if JOB_ID_RE.fullmatch(p.name) and p.is_dir())


def log_tail(path: Path, chars: int = 800) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# ----- worker processes ----------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks after boot) from ``/proc/PID/stat``; None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 is fields[0]
        return fields[0], int(fields[19])  # field 22: starttime
    except (OSError, ValueError, IndexError):
        return None


def process_start(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def is_our_worker(pid: object, start: object, job_dir: Path) -> bool:
    """True when ``pid`` is alive (not a zombie), started at ``start`` and runs our worker for ``job_dir``."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1 or not isinstance(start, int):
        return False
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X", "x") or stat[1] != start:
        return False
    try:
        args = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except OSError:
        return False
    return "services.worker" in args and str(job_dir) in args


class Worker:
    """A job's worker process, in its own session (so its process group is its pid)."""

    def __init__(self, pid: int, start: int | None, job_dir: Path, proc: subprocess.Popen | None = None) -> None:
        self.pid, self.start, self.job_dir, self.proc = pid, start, Path(job_dir), proc

    @classmethod
    def spawn(cls, argv: list[str], job_dir: Path, env: dict, cwd: str) -> Worker:
        with open(job_dir / "worker.log", "ab") as log:  # the child keeps its own copy of the handle
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    cwd=cwd, start_new_session=True)
        return cls(proc.pid, process_start(proc.pid), job_dir, proc)

    @classmethod
    def adopt(cls, recorded: dict | None, job_dir: Path) -> Worker | None:
        """The recorded worker, if it still runs this job; else None."""
        if not recorded or not is_our_worker(recorded.get("pid"), recorded.get("start"), job_dir):
            return None
        return cls(recorded["pid"], recorded["start"], job_dir)

    def record(self) -> dict:
        return {"pid": self.pid, "start": self.start}

    def poll(self) -> int | None:
        """None while it runs; else its exit code (-1 for an adopted one: not our child, code unknown)."""
        if self.proc is not None:
            return self.proc.poll()
        return None if is_our_worker(self.pid, self.start, self.job_dir) else -1

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the worker's process group (just the worker, if it is not a group leader)."""
        if self.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(self.pid) == self.pid:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)


def stop_all(workers: list[Worker], grace_s: float) -> None:
    """SIGTERM each worker (it saves a checkpoint and stops), wait up to ``grace_s``, then SIGKILL."""
    for w in workers:
        w.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    for w in workers:
        w.signal(signal.SIGKILL)
        if w.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.proc.wait(timeout=5)


__all__ = ["ACTIVE", "FINAL", "RESTARTED", "Entry", "JobStatus", "Worker", "apply_event", "apply_record", "events_size",
           "handle_of", "is_our_worker", "job_folders", "load_job", "log_tail", "process_start", "read_events",
           "run_ended", "save_record", "stamp", "stop_all"]
