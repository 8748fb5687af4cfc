"""Several app servers behind nginx, for tests and benches: ``deploy/run_local.sh`` from Python.

:func:`start` runs ``deploy/run_local.sh PORT REPLICAS`` on a free port (with this Python as
``VAE_PYTHON`` and the given environment), reads the lines it prints (one per replica: URL and
pid; nginx's pid; then ``ready: URL``) and returns a :class:`Deployment` once nginx answers
``/_stcore/health``. :meth:`Deployment.stop` sends the script SIGTERM, as a user's Ctrl-C or a
service manager would, and checks that nginx and every replica are gone and the port is free.

nginx keeps a browser on one replica with its ``vae_replica`` cookie and names the replica that
answered in the ``X-VAE-Replica`` header (deploy/nginx.conf.template). :func:`replica_of` asks
which replica a cookie value reaches; :func:`sticky_cookies` finds cookie values that reach
``n`` distinct replicas (bench/load.py gives each simulated student one of them, so the students
spread evenly), and :func:`spread` deals them out.
"""
from __future__ import annotations

import collections
import contextlib
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "deploy" / "run_local.sh"
MAX_REPLICAS = 16  # run_local.sh's limit
COOKIE = "vae_replica"  # nginx's sticky cookie
REPLICA_HEADER = "X-VAE-Replica"  # the upstream (host:port) that answered
HOW_TO = "deploy tests need Debian's nginx: apt-get install -y nginx"
_REPLICA_LINE = re.compile(r"^replica (\d+): (http://127\.0\.0\.1:(\d+)) \(pid (\d+)\)$")
_NGINX_LINE = re.compile(r"^nginx: pid (\d+), config (\S+)/nginx\.conf$")
_READY_LINE = re.compile(r"^ready: (http://\S+) ")


def nginx_path() -> str | None:
    """nginx on the PATH, else Debian's /usr/sbin/nginx (root's PATH only has it); None if neither."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def missing() -> str | None:
    """Why a deployment cannot start here (no nginx, no bash), or None."""
    if nginx_path() is None:
        return "no nginx on the PATH or at /usr/sbin/nginx"
    if shutil.which("bash") is None:
        return "no bash"
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be listened on (nothing holds it)."""
    try:
        socket.create_server((host, port)).close()
    except OSError:
        return False
    return True


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie, not yet reaped by its parent, counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@dataclass(frozen=True)
class Replica:
    """One app server behind nginx, as the script announced it."""

    number: int
    url: str
    port: int
    pid: int

    @property
    def address(self) -> str:
        """``host:port``, as nginx names it in :data:`REPLICA_HEADER`."""
        return f"127.0.0.1:{self.port}"


@dataclass
class Announced:
    """What the script's stdout said so far: replicas, nginx's pid and the script's temp folder
    (removed when it stops) and, once ready, the URL."""

    replicas: list[Replica] = field(default_factory=list)
    nginx_pid: int | None = None
    run_dir: str | None = None
    url: str | None = None

    def read(self, line: str) -> None:
        """Take in one line of the script's output (the others are logs: ignored)."""
        line = line.rstrip("\n")
        if m := _REPLICA_LINE.match(line):
            self.replicas.append(Replica(int(m[1]), m[2], int(m[3]), int(m[4])))
        elif m := _NGINX_LINE.match(line):
            self.nginx_pid, self.run_dir = int(m[1]), m[2]
        elif m := _READY_LINE.match(line):
            self.url = m[1]


@dataclass
class Deployment:
    """A running ``deploy/run_local.sh``: the script's process, its port and what it announced;
    ``log`` keeps the last lines of its output (replicas' logs included)."""

    proc: subprocess.Popen
    port: int
    announced: Announced = field(default_factory=Announced)
    log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=200))
    ready: threading.Event = field(default_factory=threading.Event)
    tracebacks: int = 0  # in the output so far (replicas' logs)

    @property
    def url(self) -> str:
        return self.announced.url or f"http://127.0.0.1:{self.port}"

    @property
    def replicas(self) -> list[Replica]:
        return self.announced.replicas

    @property
    def pid(self) -> int:
        """The script's pid (send it SIGTERM or SIGINT to stop everything)."""
        return self.proc.pid

    @property
    def pids(self) -> list[int]:
        """The replicas' pids (for their memory and CPU)."""
        return [r.pid for r in self.replicas]

    def output(self) -> str:
        return "\n".join(self.log)

    def drain(self) -> None:
        """Read the script's output until it closes (run in a thread)."""
        for line in self.proc.stdout:
            self.log.append(line.rstrip("\n"))
            self.tracebacks += "Traceback" in line
            self.announced.read(line)
            if self.announced.url is not None:
                self.ready.set()
        self.ready.set()  # the script ended: nobody waits any longer

    def children(self) -> list[int]:
        """nginx's and the replicas' pids still running."""
        pids = [*self.pids, *([self.announced.nginx_pid] if self.announced.nginx_pid else [])]
        return [p for p in pids if not gone(p)]

    def stop(self, timeout: float = 30.0, sig: int = signal.SIGTERM, group: bool = False) -> int:
        """Send the script ``sig`` (``group``: to its process group, as a terminal's Ctrl-C does), wait
        for it and check that nginx and the replicas are gone, the port is free and the temp folder
        removed (AssertionError if not; what is left is killed). Returns the script's exit status.
        Calling it again after it has stopped does no harm."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig) if group else self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in [self.proc.pid, *self.children()]:
                kill_group(pid)
            raise AssertionError(f"run_local.sh did not stop within {timeout:.0f} s:\n{self.output()}") from None
        deadline = time.monotonic() + 5
        while (self.children() or not port_free(self.port)) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = self.children()
        for pid in left:
            kill_group(pid)
        assert not left, f"still running after run_local.sh ended: {left}\n{self.output()}"
        assert port_free(self.port), f"port {self.port} still taken after run_local.sh ended"
        run_dir = self.announced.run_dir
        assert run_dir is None or not Path(run_dir).exists(), f"{run_dir} left behind"
        return status


def kill_group(pid: int) -> None:
    """SIGKILL the process group that ``pid`` leads (a last resort after a failed stop)."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def start(replicas: int = 2, env_extra: dict[str, str] | None = None, timeout: float = 180.0,
          port: int | None = None, script: Path = SCRIPT) -> Deployment:
    """Start ``script PORT REPLICAS`` (a free port by default) in its own process group and return
    once it said ``ready`` and nginx answers ``/_stcore/health``; RuntimeError (with its output)
    if it ends or takes longer than ``timeout`` s first."""
    nginx = nginx_path()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "VAE_PYTHON": sys.executable,
           **({"VAE_NGINX": nginx} if nginx and "VAE_NGINX" not in os.environ else {}), **(env_extra or {})}
    port = port or free_port()
    proc = subprocess.Popen(["bash", str(script), str(port), str(replicas)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deployment = Deployment(proc, port)
    threading.Thread(target=deployment.drain, daemon=True).start()
    if not deployment.ready.wait(timeout) or deployment.announced.url is None:
        _give_up(deployment, f"run_local.sh {port} {replicas} was not ready within {timeout:.0f} s")
    try:
        wait_healthy(deployment.url, timeout=30)
    except TimeoutError:
        _give_up(deployment, f"nginx at {deployment.url} does not answer /_stcore/health")
    return deployment


def _give_up(deployment: Deployment, why: str) -> None:
    """Stop a deployment that did not come up, then raise RuntimeError with its output."""
    if deployment.proc.poll() is None:
        deployment.proc.terminate()
        try:
            deployment.proc.wait(30)
        except subprocess.TimeoutExpired:
            kill_group(deployment.pid)
    time.sleep(0.3)  # the drain thread reads the last lines
    raise RuntimeError(f"{why} (exit status {deployment.proc.poll()}):\n{deployment.output()}")


def wait_healthy(url: str, timeout: float = 30.0) -> None:
    """Wait until ``url``/_stcore/health answers 200; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url}/_stcore/health did not answer within {timeout:.0f} s")


def cookie_header(value: str) -> dict[str, str]:
    """The request header that carries the sticky cookie ``value``."""
    return {"Cookie": f"{COOKIE}={value}"}


def replica_of(url: str, cookie: str | None = None, timeout: float = 10.0) -> str:
    """The replica (``host:port``) that nginx at ``url`` sends a request with the sticky ``cookie``
    to (with none: a new browser's first request), read from :data:`REPLICA_HEADER`."""
    request = urllib.request.Request(f"{url}/_stcore/health", headers=cookie_header(cookie) if cookie else {})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return r.headers[REPLICA_HEADER]


def candidates() -> Iterator[str]:
    """Endless random cookie values, like the ones nginx hands out."""
    while True:
        yield secrets.token_hex(16)


def sticky_cookies(url: str, n: int, tries: int = 400, probe: Callable[[str, str], str] = replica_of,
                   values: Iterable[str] | None = None) -> list[str]:
    """``n`` cookie values that the balancer at ``url`` sends to ``n`` distinct replicas (in the
    order of those replicas' addresses), found by trying ``values`` (random by default) with
    ``probe(url, value) -> replica``; RuntimeError if ``tries`` values reach fewer replicas."""
    found: dict[str, str] = {}
    tried = 0
    for value in itertools.islice(values if values is not None else candidates(), tries):
        tried += 1
        found.setdefault(probe(url, value), value)
        if len(found) == n:
            return [found[replica] for replica in sorted(found)]
    raise RuntimeError(f"{len(found)} of {n} replicas reached by {tried} cookie values at {url}")


def spread(cookies: list[str], i: int) -> str | None:
    """The cookie of simulated student ``i``: one replica after the other (None without cookies)."""
    return cookies[i % len(cookies)] if cookies else None
