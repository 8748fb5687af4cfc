"""Jobs outlive the server: a new registry rebuilds them from the jobs folder, adopts workers that
still run, marks those that died failed, keeps one writer per model name, and a clean shutdown
stops workers so that their jobs can be resumed."""
import json
import os
import subprocess
import sys
import time

import pytest
from job_helpers import resume_settled

from services.events import Started, Stopped, parse_line
from services.joblocks import lock_path
from services.jobs import JobError, JobRegistry
from services.jobstore import RESTARTED, is_our_worker, process_start
from services.workspace import Actor, new_workspace_id
from vae import settings
from vae.runspec import DataSpec, RunSpec

A, B = Actor(new_workspace_id()), Actor(new_workspace_id())
LOCAL_LIMITS = settings.limits({})


def spec(epochs=1, limit=512):
    return RunSpec.create(DataSpec(name="shapes", limit=limit), model={"arch": "mlp", "hidden": [32]},
                          train={"epochs": epochs, "batch_size": 256}, threads=1, device="cpu")


def registry(tmp_path, **options):
    options = {"max_running": 1, "poll_s": 0.05, "limits": LOCAL_LIMITS, "mode": "local", **options}
    return JobRegistry(tmp_path / "jobs", tmp_path / "models", **options)


def wait_for(condition, what, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def record(tmp_path, job_id):
    return json.loads((tmp_path / "jobs" / job_id / "job.json").read_text())


def events(tmp_path, job_id):
    return [parse_line(line) for line in (tmp_path / "jobs" / job_id / "events.jsonl").read_text().splitlines()]


def rewrite_record(tmp_path, job_id, **fields):
    (tmp_path / "jobs" / job_id / "job.json").write_text(json.dumps({**record(tmp_path, job_id), **fields}))


def test_a_restarted_registry_adopts_a_running_worker(tmp_path):
    first = registry(tmp_path)
    job = first.submit("long", spec(epochs=400), A)
    wait_for(lambda: first.status(job).epoch_log and first.status(job).step >= 3, "a few steps and an epoch")
    pid = record(tmp_path, job)["worker"]["pid"]
    first.close(kill=False)  # the server goes away; its worker does not
    assert is_our_worker(pid, process_start(pid), tmp_path / "jobs" / job)
    second = registry(tmp_path)
    try:
        st = second.status(job)
        assert (st.state, st.owner, st.name) == ("running", A.workspace, "long")
        assert st.steps and st.epoch_log and st.steps_per_epoch == 2  # the curves, rebuilt from the events
        assert [j.id for j in second.list(A)] == [job] and second.list(B) == []
        seen = st.step
        wait_for(lambda: second.status(job).step > seen, "new steps read by the new registry")
        with pytest.raises(JobError, match="already training"):
            second.submit("long", spec(), A)  # still the one writer of that model
        second.stop(job, A)
        wait_for(lambda: second.status(job).state == "stopped", "the adopted job to stop")
        lock = lock_path(tmp_path / "models" / f"ws-{A.workspace}" / "long")
        wait_for(lambda: not lock.exists(), "the registry to notice the exit and free the name")
        assert not is_our_worker(pid, process_start(pid), tmp_path / "jobs" / job)
    finally:
        second.close()
    assert record(tmp_path, job)["state"] == "stopped"


def test_a_clean_shutdown_stops_workers_so_their_jobs_resume(tmp_path):
    first = registry(tmp_path)
    job = first.submit("long", spec(epochs=400))
    wait_for(lambda: first.status(job).epoch_log, "an epoch")
    first.close()  # SIGTERM: the worker saves a checkpoint and reports why it stopped
    assert record(tmp_path, job)["state"] == "stopped"
    second = registry(tmp_path)
    try:
        st = second.status(job)
        assert (st.state, st.label) == ("stopped", "stopped: the server shut down"), st.error
        assert (tmp_path / "jobs" / job / "checkpoint").is_dir()
        stopped = [e for e in events(tmp_path, job) if isinstance(e, Stopped)]
        assert len(stopped) == 1 and stopped[0].reason == "the server shut down" and stopped[0].step == st.step
        target = stopped[0].epoch + 1  # finish the epoch it was in
        resume_settled(second, job, target)
        assert second.status(job).spec.resume == str(tmp_path / "jobs" / job / "checkpoint")
        wait_for(lambda: second.status(job).state in ("done", "failed"), "the resumed job to finish")
        st = second.status(job)
        assert st.state == "done", st.error
    finally:
        second.close()
    starts = [e for e in events(tmp_path, job) if isinstance(e, Started)]
    assert starts[-1].resumed_step == stopped[0].step and st.step == target * st.steps_per_epoch


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("worker", ["dead", "someone else", "no record", "garbage"])
def test_a_job_whose_worker_is_gone_is_failed_with_the_restart_message(tmp_path, worker):
    first = registry(tmp_path, max_running=0)
    job = first.submit("gone", spec(), A)
    first.close()
    recorded = {"dead": {"pid": _dead_pid(), "start": 1},
                "someone else": {"pid": os.getpid(), "start": process_start(os.getpid())},  # alive, not our worker
                "no record": None, "garbage": {"pid": 0, "start": "x"}}[worker]
    rewrite_record(tmp_path, job, state="running", worker=recorded)
    second = registry(tmp_path, max_running=0)
    try:
        st = second.status(job)
        assert (st.state, st.error) == ("failed", RESTARTED)
        assert not lock_path(tmp_path / "models" / f"ws-{A.workspace}" / "gone").exists()  # the name is free
        second.resume(job, None, A)  # "resume it to continue"
        assert second.status(job).state == "queued" and record(tmp_path, job)["state"] == "queued"
        with pytest.raises(JobError, match="already training"):
            second.submit("gone", spec(), A)
        second.submit("gone", spec(), B)  # another workspace: its own folder
    finally:
        second.close()


def test_queued_jobs_stay_queued_and_keep_their_name(tmp_path):
    first = registry(tmp_path, max_running=0)
    job = first.submit("later", spec(), A)
    first.close()
    second = registry(tmp_path, max_running=0)
    try:
        st = second.status(job)
        assert (st.state, st.queue_position, st.owner) == ("queued", 1, A.workspace)
        with pytest.raises(JobError, match="already training a model called 'later'"):
            second.submit("later", spec(), A)
        second.stop(job, A)
        second.submit("later", spec(), A)  # the cancelled job freed the name
    finally:
        second.close()


def test_stale_locks_are_cleared_at_restart(tmp_path):
    models = tmp_path / "models"
    (models / f"ws-{A.workspace}").mkdir(parents=True)
    stale = [models / ".old.lock", models / f"ws-{A.workspace}" / ".mine.lock"]
    stale[0].write_text("0123456789ab")  # a job nobody knows
    stale[1].write_text("")
    first = registry(tmp_path, max_running=0)
    try:
        assert not any(p.exists() for p in stale)
        first.submit("mine", spec(), A)  # the name is free again
        assert lock_path(models / f"ws-{A.workspace}" / "mine").is_file()
    finally:
        first.close()


def test_a_second_job_for_the_same_output_is_refused_while_the_first_is_active(tmp_path):
    reg = registry(tmp_path, max_running=0)
    try:
        job = reg.submit("same", spec())
        out = tmp_path / "models" / "same"
        assert lock_path(out).read_text() == job
        for overwrite in (False, True):
            with pytest.raises(JobError, match="already training a model called 'same'"):
                reg.submit("same", spec(), overwrite=overwrite)
        reg.stop(job)
        assert not lock_path(out).exists()
        other = reg.submit("same", spec())
        with pytest.raises(JobError, match="already training"):
            reg.resume(job)  # the name now belongs to the newer job
        assert reg.status(job).state == "stopped" and reg.status(other).state == "queued"
    finally:
        reg.close()


def test_unreadable_job_folders_are_left_alone(tmp_path, capsys):
    for name, files in (("0123456789ab", {"job.json": "{", "spec.json": "{}"}), ("not-a-job", {"job.json": "{}"}),
                        ("abcdefabcdef", {})):
        folder = tmp_path / "jobs" / name
        folder.mkdir(parents=True)
        for file, text in files.items():
            (folder / file).write_text(text)
    reg = registry(tmp_path, max_running=0)
    try:
        assert reg.list() == []
    finally:
        reg.close()
    assert all((tmp_path / "jobs" / n).is_dir() for n in ("0123456789ab", "not-a-job", "abcdefabcdef"))
    assert "skipped job folder" in capsys.readouterr().err


def test_close_all_stops_the_workers_of_every_open_registry(tmp_path):
    from services import jobs
    reg = registry(tmp_path)
    job = reg.submit("long", spec(epochs=400))
    wait_for(lambda: reg.status(job).epoch_log, "an epoch")
    jobs.close_all()  # what serve.py's lifespan does when the server stops
    assert record(tmp_path, job)["state"] == "stopped"
    assert reg not in jobs._OPEN
