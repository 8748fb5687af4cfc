"""The background job registry, with real worker subprocesses on small shapes jobs."""
import time

import pytest

from vae import checkpoint
from services.jobs import JobError, JobRegistry, validate_name


def spec(epochs=1, **train):
    return {"dataset": "shapes", "limit": 1024, "threads": 1, "model": {"arch": "mlp", "hidden": [32], "latent_dim": 2},
            "train": {"epochs": epochs, "batch_size": 256, **train}}


def wait(reg, job_id, states, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = reg.status(job_id)
        if st.state in states:
            return st
        time.sleep(0.1)
    raise AssertionError(f"job stayed {reg.status(job_id).state}; log: {reg.status(job_id).error}")


@pytest.fixture
def reg(tmp_path):
    r = JobRegistry(tmp_path / "jobs", tmp_path / "models", max_running=1, poll_s=0.05)
    yield r
    r.close()


def test_job_runs_reports_progress_and_saves_a_model(reg, tmp_path):
    job_id = reg.submit("my-model", spec(epochs=2))
    st = wait(reg, job_id, ("done", "failed"))
    assert st.state == "done", st.error
    assert st.epoch_log[-1]["epoch"] == 2 and st.progress == 1.0
    assert len(st.steps) >= 2 and st.steps[-1][0] == st.step
    assert (tmp_path / "jobs" / job_id / st.epoch_log[0]["image"]).is_file()
    ck = checkpoint.load(st.model_path)
    assert ck.dataset == "shapes" and ck.metrics["neg_elbo"] > 0
    assert st.model_path == str((tmp_path / "models" / "my-model").resolve())


def test_queue_positions_stop_and_resume(reg):
    first = reg.submit("first", spec(epochs=30))
    second = reg.submit("second", spec(epochs=1))
    assert reg.status(first).state == "running"
    assert reg.status(second).state == "queued" and reg.status(second).queue_position == 1
    deadline = time.monotonic() + 60
    while reg.status(first).step < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    reg.stop(first)
    st = wait(reg, first, ("stopped", "failed"))
    assert st.state == "stopped", st.error
    stopped_at = st.step
    assert 0 < stopped_at < 30 * st.steps_per_epoch
    wait(reg, second, ("done",))  # the queued job ran once the first stopped
    target = st.epoch  # finish the epoch it was in
    reg.resume(first, epochs=target)
    st = wait(reg, first, ("done", "failed"))
    assert st.state == "done", st.error
    steps = [s[0] for s in st.steps]
    assert steps == sorted(steps) and steps[-1] == target * st.steps_per_epoch  # one curve, continued
    assert steps[0] <= stopped_at


def test_cancel_a_queued_job(reg):
    a = reg.submit("a", spec(epochs=20))
    b = reg.submit("b", spec())
    reg.stop(b)
    assert reg.status(b).state == "stopped"
    reg.stop(a)
    wait(reg, a, ("stopped",))


BAD = [
    ({**spec(), "dataset": "folder:/no/such/folder"}, "is not a folder"),
    ({**spec(), "model": {"arch": "mlp", "latent_dim": 2, "likelihood": "gaussian", "learn_sigma": True},
      "train": {"epochs": 50, "lr": 1e6, "batch_size": 32}}, "loss became"),
    ({**spec(), "model": {"arch": "mlp", "latent_dim": 500}}, "latent_dim"),
]


def test_failures_are_reported_and_the_registry_keeps_running(reg):
    bad = [(reg.submit(f"bad{i}", s), message) for i, (s, message) in enumerate(BAD)]
    good = reg.submit("good", spec())
    for job_id, message in bad:
        st = wait(reg, job_id, ("failed", "done"))
        assert st.state == "failed" and message in st.error, st.error
    assert wait(reg, good, ("done", "failed")).state == "done"


def test_reaping_removes_old_finished_jobs(tmp_path):
    reg = JobRegistry(tmp_path / "jobs", tmp_path / "models", reap_after_s=0.3, poll_s=0.05)
    try:
        job = reg.submit("quick", spec())
        wait(reg, job, ("done",))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(j.id == job for j in reg.list()):
            time.sleep(0.1)
        with pytest.raises(JobError, match="No job"):
            reg.status(job)
        assert not (tmp_path / "jobs" / job).exists()
        assert (tmp_path / "models" / "quick").is_dir()  # the model stays
    finally:
        reg.close()


@pytest.mark.parametrize("name", ["", "../evil", "a/b", "..", ".hidden", "x" * 65, "sp ace"])
def test_bad_names_are_refused(name, tmp_path):
    with pytest.raises(JobError, match="letters, digits"):
        validate_name(name, tmp_path)


def test_existing_name_needs_overwrite(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(JobError, match="already exists"):
        validate_name("taken", tmp_path)
    assert validate_name("taken", tmp_path, overwrite=True) == (tmp_path / "taken").resolve()
