"""A throwaway local Ray head node for tests: ``ray start --head --block`` on free ports with its
own temporary folder, so that stopping it touches no other Ray cluster on the machine (``ray
stop`` would stop them all).

:func:`start_head` waits until the dashboard's Jobs API answers; :meth:`RayHead.stop` sends
SIGTERM, then kills every process still running from its temporary folder (a blocked ``ray
start`` drains for 30 s or more on SIGTERM) and removes the folder.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness.deploy import free_port


@dataclass
class RayHead:
    proc: subprocess.Popen
    address: str  # the dashboard (Jobs API): http://127.0.0.1:PORT
    temp_dir: Path
    log: Path

    def processes(self) -> list[int]:
        """Pids of the processes started from this head's temporary folder."""
        marker = str(self.temp_dir).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if marker in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop the head node and everything it started; remove its folder."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace_s)
        for pid in [self.proc.pid, *self.processes()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_head(num_cpus: int = 1, timeout_s: float = 120.0) -> RayHead:
    """``ray start --head --num-cpus N`` in the foreground, its dashboard on a free local port."""
    temp_dir = Path(tempfile.mkdtemp(prefix="vray", dir="/tmp"))  # short: Ray's socket paths have a length limit
    dash = free_port()
    log = temp_dir / "head.log"
    argv = ["ray", "start", "--head", "--block", "--num-cpus", str(num_cpus), "--port", str(free_port()),
            "--dashboard-port", str(dash), "--dashboard-host", "127.0.0.1", "--include-dashboard", "true",
            "--disable-usage-stats", "--temp-dir", str(temp_dir)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    head = RayHead(proc, f"http://127.0.0.1:{dash}", temp_dir, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")[-2000:]
            head.stop()
            raise RuntimeError(f"ray start exited with {proc.returncode}:\n{text}")
        try:
            with urllib.request.urlopen(f"{head.address}/api/version", timeout=2):
                return head
        except OSError:
            time.sleep(0.5)
    head.stop()
    raise RuntimeError(f"the Ray dashboard did not answer within {timeout_s:.0f} s")


__all__ = ["RayHead", "start_head"]
