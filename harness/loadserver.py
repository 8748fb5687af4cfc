"""App servers for bench/load.py: one started from any checkout of this app, and its memory.

:func:`start_server` starts ``streamlit run`` from a checkout's folder (``serve.py`` at its root
if it has one, else ``app.py``) with that folder as the working directory and first on
``PYTHONPATH``, so the server imports that checkout's ``vae``, ``services`` and ``ui`` (and reads
its ``.streamlit/config.toml``), not the editable install's: :func:`imports_from` says where
``vae`` comes from under the same settings. The server's output is drained in a thread (a
full pipe would stall it) and its tracebacks counted. :func:`rss_kb` and :class:`RssPeak` read
the server's memory from ``/proc``.
"""
from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from harness.browser import stop_app

ROOT = Path(__file__).resolve().parents[1]


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


def rss_kb(pid: int | None, key: str = "VmRSS") -> int | None:
    """A memory figure (kB) of process ``pid`` from /proc/PID/status; None if unknown."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, all threads) process ``pid`` has used so far; None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(pid: int | None, limit: float = 120.0, busy: float = 0.05) -> float | None:
    """Wait until the server used under ``busy`` of a core over one second (its start-up work,
    e.g. a background warm-up, done), at most ``limit`` s; the seconds waited, None if it never
    went quiet (or there is no pid to watch)."""
    if pid is None:
        return None
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
    """Samples the server's VmRSS every ``every`` s until stopped; ``peak`` is the largest seen."""

    def __init__(self, pid: int | None, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, rss_kb(pid)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            now = rss_kb(self.pid)
            if now is not None:
                self.peak = max(self.peak or 0, now)
