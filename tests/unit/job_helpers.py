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
