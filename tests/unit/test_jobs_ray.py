"""The Ray Jobs backend against a real local head node (``ray start --head --num-cpus 1``): a job
trains to the end, another is stopped mid-run and resumed from its checkpoint, the Train page's
registry never knowing where they run; then the head is shut down. Skips without ``ray`` (it is
optional: requirements-ray.txt) unless VAE_REQUIRE_RAY is set, as in CI."""
import importlib.util

import pytest
from job_helpers import resume_settled

from services.events import Started, Stopped
from services.jobstore import JobStatus
from tests.unit.test_jobs_persist import A, events, record, registry, spec, wait_for
from vae import settings

if importlib.util.find_spec("ray") is None:
    if settings.require_ray():
        raise RuntimeError("VAE_REQUIRE_RAY is set but ray is not installed: pip install -r requirements-ray.txt")
    pytest.skip("ray is not installed (optional: pip install -r requirements-ray.txt)", allow_module_level=True)

from harness.raycluster import start_head  # noqa: E402
from services.backends import RayBackend  # noqa: E402


@pytest.fixture(scope="module")
def head():
    node = start_head(num_cpus=1)
    yield node
    node.stop()
    assert node.processes() == []  # the head node and everything it started are gone


def ray_status(head, job_id, tmp_path) -> str:
    from ray.job_submission import JobSubmissionClient

    rec = record(tmp_path, job_id)
    return str(JobSubmissionClient(head.address).get_job_status((rec["worker"] or rec["last_worker"])["id"]))


def finished(reg, job_id, tmp_path) -> JobStatus:
    wait_for(lambda: record(tmp_path, job_id)["state"] in ("done", "failed"), "the Ray job's end recorded", 240)
    return reg.status(job_id)


def test_jobs_run_stop_and_resume_on_a_ray_cluster(head, tmp_path):
    reg = registry(tmp_path, backend=RayBackend(head.address))
    try:
        short = reg.submit("one-epoch", spec(epochs=1), A)
        st = finished(reg, short, tmp_path)
        assert st.state == "done", st.error
        assert record(tmp_path, short)["worker"] is None and ray_status(head, short, tmp_path).endswith("SUCCEEDED")
        assert (tmp_path / "models" / f"ws-{A.workspace}" / "one-epoch" / "model.safetensors").is_file()

        long = reg.submit("stopped-and-resumed", spec(epochs=400), A)
        wait_for(lambda: reg.status(long).epoch_log, "an epoch on Ray", 240)
        assert record(tmp_path, long)["worker"]["backend"] == "ray"
        assert ray_status(head, long, tmp_path).endswith("RUNNING")
        reg.stop(long, A)
        wait_for(lambda: record(tmp_path, long)["state"] == "stopped", "the stop to be recorded", 120)
        stopped = [e for e in events(tmp_path, long) if isinstance(e, Stopped)]
        assert len(stopped) == 1 and stopped[0].reason is None  # the user asked
        assert ray_status(head, long, tmp_path).endswith("SUCCEEDED")  # it saved and ended cleanly
        resume_settled(reg, long, stopped[0].epoch + 1, A)
        st = finished(reg, long, tmp_path)
        assert st.state == "done", st.error
        starts = [e for e in events(tmp_path, long) if isinstance(e, Started)]
        assert starts[-1].resumed_step == stopped[0].step > 0  # from the checkpoint on shared storage
    finally:
        reg.close()


def test_an_unreachable_cluster_fails_the_job_with_a_reason(tmp_path):
    reg = registry(tmp_path, backend=RayBackend("http://127.0.0.1:9"))  # nothing listens there
    try:
        job = reg.submit("nowhere", spec(), A)
        st = reg.status(job)
        assert st.state == "failed" and "cannot be reached" in st.error and "ray start --head" in st.error
        assert record(tmp_path, job)["state"] == "failed"
        assert reg.list(A)[0].id == job  # the registry goes on
    finally:
        reg.close()
