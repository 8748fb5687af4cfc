"""App servers for bench/load.py: one started from any checkout of this app, and its memory.

:func:`start_server` starts ``streamlit run`` from a checkout's folder (``serve.py`` at its root
if it has one, else ``app.py``) with that folder as the working directory and first on
``PYTHONPATH``, so the server imports that checkout's ``vae``, ``services`` and ``ui`` (and reads
its ``.streamlit/config.toml``), not the editable install's: :func:`imports_from` says where
``vae`` comes from under the same settings. The server's output is drained in a thread (a
full pipe would stall it) and its tracebacks counted. :func:`rss_kb` and :class:`RssPeak` read
the server's memory from ``/proc``, :func:`cpu_seconds` its CPU time; each takes one pid or
several (the replicas behind a load balancer, harness/deploy.py), summed.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import deploy
from harness.browser import stop_app

ROOT = Path(__file__).resolve().parents[1]
Pids = int | Sequence[int] | None  # one server, several (summed), or none (nothing read)


@dataclass
class Server:
    """A started app server: its process, URL, checkout folder and entry script, and the last
    lines of its output with a count of the tracebacks in it."""

    proc: subprocess.Popen
    url: str
    root: Path
    script: str
    log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=20))
    tracebacks: int = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def drain(self) -> None:
        """Read the server's output until it closes (run in a thread)."""
        for line in self.proc.stdout:
            self.log.append(line.rstrip())
            self.tracebacks += "Traceback" in line

    def stop(self) -> None:
        stop_app(self.proc)


def entry_script(root: Path) -> str:
    """The script a checkout is started with: ``serve.py`` where it has one, else ``app.py``."""
    return "serve.py" if (root / "serve.py").is_file() else "app.py"


def checkout_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a server of the checkout ``root`` runs in: ``root`` first on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONUNBUFFERED": "1", **(extra or {}), "PYTHONPATH": path}


def imports_from(root: Path) -> str:
    """The file ``import vae`` loads in the checkout ``root``'s server environment."""
    out = subprocess.run([sys.executable, "-c", "import vae; print(vae.__file__)"], cwd=root,
                         env=checkout_env(root), capture_output=True, text=True, timeout=120)
    return out.stdout.strip() or f"(import failed: {out.stderr.strip()[-300:]})"


def describe(root: Path) -> str:
    """The checkout's commit (short hash, "+changes" when its work tree differs from it)."""
    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
        return out.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "not a git checkout"
    return head + (" +changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path = ROOT, env_extra: dict[str, str] | None = None, timeout: float = 120.0) -> Server:
    """Start the checkout ``root``'s app on a free port; returns once it answers its health check."""
    root, script, port = Path(root).resolve(), entry_script(Path(root)), _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=root, env=checkout_env(root, env_extra), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    server = Server(proc, f"http://127.0.0.1:{port}", root, script)
    threading.Thread(target=server.drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            time.sleep(0.5)  # let the drain thread read the last lines
            raise RuntimeError("streamlit exited early:\n" + "\n".join(server.log))
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"streamlit ({root}/{script}) did not become healthy in {timeout:.0f} s")


def _pid_list(pid: Pids) -> list[int]:
    return [] if pid is None else [pid] if isinstance(pid, int) else list(pid)


def rss_kb(pid: Pids, key: str = "VmRSS") -> int | None:
    """A memory figure (kB) from /proc/PID/status of process ``pid``, summed over several pids;
    None if there is none or one is unknown."""
    values = [_status_kb(p, key) for p in _pid_list(pid)]
    return sum(values) if values and None not in values else None


def _status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid: Pids) -> float | None:
    """CPU time (user + system, all threads) process ``pid`` has used so far, summed over several
    pids; None if there is none or one is unknown."""
    values = [_stat_cpu(p) for p in _pid_list(pid)]
    return sum(values) if values and None not in values else None


def _stat_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_children(pid: int | None) -> list[int]:
    """``pid`` and its children (nginx's master and its workers), from /proc; [] for None."""
    if pid is None:
        return []
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return [pid, *map(int, kids)]


def machine_cpu_seconds() -> float | None:
    """CPU time the whole machine has been busy (all cores; not idle, not waiting), from /proc/stat."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # user..steal, less idle, iowait


def cpu_meter(named: dict[str, Pids | Callable[[], float | None]]) -> Callable[[], dict[str, float | None]]:
    """Start counting the CPU seconds of each named group of processes (or of a reader such as
    :func:`machine_cpu_seconds`); call the result to read how many each used since (None: unknown)."""
    readers = {k: v if callable(v) else functools.partial(cpu_seconds, v) for k, v in named.items()}
    before = {k: read() for k, read in readers.items()}

    def used() -> dict[str, float | None]:
        now = {k: read() for k, read in readers.items()}
        return {k: None if before[k] is None or now[k] is None else now[k] - before[k] for k in named}
    return used


def wait_quiet(pid: Pids, limit: float = 120.0, busy: float = 0.05) -> float | None:
    """Wait until the server used under ``busy`` of a core over one second (its start-up work,
    e.g. a background warm-up, done; several servers: under ``busy`` each, on average), at most
    ``limit`` s; the seconds waited, None if it never went quiet (or there is no pid to watch)."""
    if not _pid_list(pid):
        return None
    busy *= len(_pid_list(pid))
    start = time.monotonic()
    before = cpu_seconds(pid)
    while before is not None and time.monotonic() - start < limit:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        if now is not None and now - before < busy:
            return time.monotonic() - start
        before = now
    return None


class RssPeak(threading.Thread):
    """Samples the server's VmRSS (summed over several) every ``every`` s until stopped; ``peak``
    is the largest seen."""

    def __init__(self, pid: Pids, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, rss_kb(pid)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            now = rss_kb(self.pid)
            if now is not None:
                self.peak = max(self.peak or 0, now)


@contextlib.contextmanager
def deployed(replicas: int, env_extra: dict[str, str], sessions: int
             ) -> Iterator[tuple[deploy.Deployment, list[str], str]]:
    """deploy/run_local.sh with ``replicas`` replicas of this checkout (harness/deploy.py), stopped on
    exit: yields the deployment, one sticky cookie per replica (student i gets cookie i mod N) and
    a description naming how many of ``sessions`` students each replica serves."""
    d = deploy.start(replicas, env_extra)
    try:
        cookies = deploy.sticky_cookies(d.url, len(d.replicas))
        where = [deploy.replica_of(d.url, c) for c in cookies]
        per = collections.Counter(where[i % len(where)] for i in range(sessions))
        yield d, cookies, (f"nginx at {d.url} (deploy/run_local.sh) in front of {len(d.replicas)} replicas of "
                           f"{ROOT} (serve.py, {describe(ROOT)}); students per replica: "
                           + ", ".join(f"{r} {n}" for r, n in sorted(per.items())))
    finally:
        d.stop()
