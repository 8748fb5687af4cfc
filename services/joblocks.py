"""Locks that let several app servers (replicas) share one jobs folder and one models folder.

:class:`FolderLock` serialises changes to job records across threads and processes;
:class:`ServerMark` tells whether the registry that started a worker is still open; a lock file
beside each output folder (``.NAME.lock``, holding the job id) keeps one writer per model name.
All are plain files with ``flock``, so they work for replicas on one machine and on shared
storage that supports locks (NFSv4). No Streamlit here.
"""
from __future__ import annotations

import fcntl
import os
import re
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

SERVERS = ".servers"  # in the jobs folder: one locked file per open registry


class ServerMark:
    """An open registry's mark in ``JOBS/.servers/``: a file it holds an exclusive ``flock`` on for
    as long as it is open. Any replica can tell whether the server that started a worker is still
    there (a crashed one's lock is gone with its process)."""

    def __init__(self, root: Path) -> None:
        folder = Path(root) / SERVERS
        folder.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(8)
        self.path = folder / self.token
        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def close(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def is_open(root: Path, token: object) -> bool:
        """True while the registry that wrote ``token`` is open (False for anything else)."""
        if not isinstance(token, str) or not re.fullmatch(r"[0-9a-f]{16}", token):
            return False
        path = Path(root) / SERVERS / token
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # held: its registry is open
        finally:
            os.close(fd)
        path.unlink(missing_ok=True)  # left by a process that died
        return False


class FolderLock:
    """A shared folder's lock, the file ``path`` locked with ``flock``: changes to the folder are
    made one at a time across threads and processes (re-entrant within a thread). The jobs folder's
    is ``.registry.lock`` inside it (one registry changes job records at a time); the uploads
    folder's sits beside it (services/uploads.py)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        self._lock = threading.RLock()
        self._depth = 0

    def __enter__(self) -> bool:
        """True on the outermost entry (the caller then re-reads the folder)."""
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self._depth == 1

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()

    def close(self) -> None:
        os.close(self._fd)


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



__all__ = ["FolderLock", "ServerMark", "clear_stale_locks", "lock_path", "release_lock", "take_lock"]
