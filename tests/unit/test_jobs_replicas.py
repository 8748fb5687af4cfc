"""Several app servers (replicas) on one jobs folder: each sees every job, any of them may stop or
resume a job another started, the queue and its limit are the folder's, and a replica that dies
leaves its workers to the others."""
import pytest
from job_helpers import resume_settled

from services.joblocks import lock_path
from services.jobs import JobError
from tests.unit.test_jobs_persist import A, B, record, registry, spec, wait_for


@pytest.fixture
def replicas(tmp_path):
    first, second = registry(tmp_path), registry(tmp_path)
    yield first, second
    first.close()
    second.close()


def test_a_job_started_on_one_replica_is_stopped_and_resumed_on_the_other(replicas, tmp_path):
    one, two = replicas
    job = one.submit("shared", spec(epochs=400), A)
    wait_for(lambda: two.status(job).state == "running" and two.status(job).epoch_log, "replica two to see epochs")
    assert [j.id for j in two.list(A)] == [job] and two.list(B) == []
    with pytest.raises(JobError, match="already training"):
        two.submit("shared", spec(), A)  # the model's one writer, whichever replica is asked
    two.stop(job, A)
    wait_for(lambda: one.status(job).state == "stopped" and two.status(job).state == "stopped", "both to see it stop")
    stopped_at = two.status(job).step
    wait_for(lambda: record(tmp_path, job)["state"] == "stopped", "the end recorded (by replica one, which watches it)")
    assert record(tmp_path, job)["worker"] is None
    resume_settled(two, job, two.status(job).epoch + 1, A)  # finish the epoch it was in, started by replica two
    assert record(tmp_path, job)["server"] != one._mark.token
    wait_for(lambda: one.status(job).state in ("done", "failed"), "replica one to see the resumed job end")
    st = one.status(job)
    assert st.state == "done", st.error
    assert st.step > stopped_at and st.model_path
    wait_for(lambda: record(tmp_path, job)["state"] == "done", "replica two to record the end of its worker")
    wait_for(lambda: two.status(job).state == "done", "replica two's view")


def test_the_queue_and_its_limit_belong_to_the_folder(replicas):
    one, two = replicas  # each allows one running job; together they still run one
    first = one.submit("first", spec(epochs=400), A)
    second = two.submit("second", spec(), B)
    wait_for(lambda: one.status(second).state == "queued" and one.status(first).state == "running", "one's view")
    assert two.status(second).queue_position == 1
    one.stop(first, A)
    wait_for(lambda: two.status(second).state == "done", "the queued job to run once the first stopped", 180)
    assert one.status(first).state == "stopped"


def test_a_replica_that_dies_leaves_its_worker_to_the_others(tmp_path):
    one, two = registry(tmp_path), registry(tmp_path)
    try:
        job = one.submit("orphan", spec(epochs=400), A)
        wait_for(lambda: two.status(job).step >= 2, "the worker to train")
        one.close(kill=False)  # as if replica one crashed: its worker goes on
        seen = two.status(job).step
        wait_for(lambda: two.status(job).step > seen, "replica two to keep reading its progress")
        two.stop(job, A)
        wait_for(lambda: two.status(job).state == "stopped", "replica two to stop it and record the end")
        lock = lock_path(tmp_path / "models" / f"ws-{A.workspace}" / "orphan")
        wait_for(lambda: not lock.exists(), "the name to be free again")
        assert record(tmp_path, job)["state"] == "stopped"
    finally:
        one.close()
        two.close()
