"""Helpers shared by the job-registry tests."""
from __future__ import annotations

import time


def wait(reg, job_id: str, states: tuple[str, ...], timeout: float = 120):
    """The job's status once it is in one of ``states``; fails (with its error) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = reg.status(job_id)
        if st.state in states:
            return st
        time.sleep(0.05)
    raise AssertionError(f"job stayed {reg.status(job_id).state}; error: {reg.status(job_id).error}")


def resume_settled(reg, job_id: str, *args, timeout: float = 60):
    """``reg.resume(job_id, *args)``, retried while the job's worker is still saving and exiting
    (a busy machine can take longer than the registry's own short wait), as a user would retry."""
    from services.jobchecks import JobError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return reg.resume(job_id, *args)
        except JobError as exc:
            if "still saving and exiting" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.2)
