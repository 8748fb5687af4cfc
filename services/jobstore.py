"""The job registry's state on disk, so that jobs outlive the server process.

Each job folder holds ``spec.json`` (the RunSpec), ``events.jsonl`` (the worker's progress events)
and ``job.json`` (written by the registry: name, owner, times, the state it last knew, and the
worker's pid and process start time). :func:`load_job` rebuilds a :class:`JobStatus` from them.
:class:`Worker` is a job's worker process: one the registry started, or one it *adopted* after a
restart (alive, with the recorded start time, and running ``services.worker`` for that folder).
A lock file beside each output folder (``.NAME.lock``, holding the job id) keeps one writer per
model name. Linux-only parts (``/proc``) degrade to "not adoptable". No Streamlit here.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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
    if not path.exists():
        return offset
    with open(path, "rb") as fh:
        fh.seek(offset)
        chunk = fh.read()
    end = chunk.rfind(b"\n") + 1  # only whole lines
    for line in chunk[:end].splitlines():
        if not line.strip():
            continue
        try:
            event = parse_line(line)
        except EventError as exc:
            print(f"services.jobs: job {job.id}: skipped a bad event line: {exc}", file=sys.stderr)
            continue
        apply_event(job, event)
    return offset + end


# ----- job.json ------------------------------------------------------------------------------
def save_record(job: JobStatus, worker: Worker | None) -> None:
    """Write ``job.json`` atomically (a reader never sees half a file)."""
    record = {k: getattr(job, k) for k in RECORD_FIELDS}
    record["worker"] = worker.record() if worker is not None else None
    path = Path(job.job_dir) / RECORD
    tmp = path.with_name(f".{RECORD}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_job(job_dir: Path) -> tuple[JobStatus, dict, dict | None]:
    """The job in ``job_dir`` as its record left it (state "queued" until its events are read),
    the record, and its recorded worker. Raises OSError/ValueError for an unreadable folder."""
    record = json.loads((job_dir / RECORD).read_text(encoding="utf-8"))
    spec = RunSpec.from_json((job_dir / "spec.json").read_text(encoding="utf-8"))
    if not isinstance(record, dict) or record.get("id") != job_dir.name or not isinstance(record.get("name"), str):
        raise ValueError(f"{job_dir / RECORD} does not describe job {job_dir.name}")
    owner = record.get("owner")
    created = record.get("created")
    job = JobStatus(id=job_dir.name, name=record["name"], spec=spec, owner=owner if isinstance(owner, str) else None,
                    created=float(created) if isinstance(created, (int, float)) else time.time(),
                    started=record.get("started"), epochs=spec.train.epochs, job_dir=str(job_dir))
    worker = record.get("worker")
    return job, record, worker if isinstance(worker, dict) else None


def restore(root: Path) -> list[tuple[JobStatus, Worker | None, int]]:
    """The jobs recorded in ``root`` as they stand now: each with its adopted worker (None unless
    it still runs) and the offset of its events read so far. Unreadable folders are skipped."""
    jobs = []
    for job_dir in sorted(p for p in root.iterdir() if JOB_ID_RE.fullmatch(p.name) and p.is_dir()):
        try:
            job, record, recorded_worker = load_job(job_dir)
        except (OSError, ValueError) as exc:  # incl. ConfigError, JSONDecodeError: leave it alone
            print(f"services.jobs: skipped job folder {job_dir}: {exc}", file=sys.stderr)
            continue
        offset = read_events(job, 0)  # curves and epoch log; the state as the events tell it
        jobs.append((job, reconcile(job, record, recorded_worker), offset))
    return jobs


def reconcile(job: JobStatus, record: dict, recorded_worker: dict | None) -> Worker | None:
    """Set a restored job's state from its record, its events and whether its worker still runs
    (then returned): a job the registry saw running whose worker is gone failed, unless its events
    say it ended; a queued job stays queued."""
    recorded = record.get("state")
    if recorded == "queued":
        job.state, job.finished, job.error, job.stop_reason = "queued", None, None, None
    elif recorded in FINAL:
        job.state, job.finished = recorded, record.get("finished")
        job.error, job.stop_reason = record.get("error"), record.get("stop_reason")
    else:  # running or stopping when the last registry saw it
        worker = Worker.adopt(recorded_worker, Path(job.job_dir))
        if worker is not None:
            job.state = job.state if job.state in FINAL else recorded
            return worker
        if job.state not in FINAL:
            job.state, job.finished, job.error = "failed", time.time(), RESTARTED
    return None


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


# ----- one registry per jobs folder, one writer per output name ---------------------------------
def hold_folder(root: Path) -> int | None:
    """An open, exclusively locked ``root/.registry.lock`` (its descriptor; closing it lets go),
    or None while another registry (another server, or one never closed) holds it."""
    fd = os.open(root / ".registry.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def lock_path(out: Path) -> Path:
    return Path(out).parent / f".{Path(out).name}.lock"


def _holder(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def take_lock(out: Path, job_id: str, is_active: Callable[[str], bool]) -> bool:
    """Make ``job_id`` the one writer of ``out``; False while another active job holds it (a lock
    left by a job that is no longer active is replaced)."""
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder == job_id:
                return True
            if holder and is_active(holder):
                return False
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(job_id)
        return True
    return False


def release_lock(out: Path, job_id: str) -> None:
    path = lock_path(out)
    if _holder(path) == job_id:
        path.unlink(missing_ok=True)


def clear_stale_locks(models_dir: Path, is_active: Callable[[str], bool]) -> None:
    """Remove lock files (in the models folder and its workspace folders) whose job is not active."""
    for path in [*models_dir.glob(".*.lock"), *models_dir.glob("*/.*.lock")]:
        holder = _holder(path)
        if not (holder and is_active(holder)):
            path.unlink(missing_ok=True)


__all__ = ["ACTIVE", "FINAL", "JobStatus", "Worker", "apply_event", "clear_stale_locks", "hold_folder", "is_our_worker",
           "load_job", "lock_path", "log_tail", "process_start", "read_events", "reconcile", "release_lock", "restore",
           "save_record", "stop_all", "take_lock"]
