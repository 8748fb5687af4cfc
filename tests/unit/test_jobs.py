"""The background job registry, with real worker subprocesses on small shapes jobs; and who may
do what with a job (workspaces, the teacher)."""
import dataclasses
import time

import pytest
from job_helpers import resume_settled, wait

from services import worker
from services.events import Epoch, Failed, Started, Step, parse_line
from services.jobs import JobAccessError, JobError, JobRegistry, JobStatus, validate_name
from services.jobstore import read_events
from services.workspace import LOCAL, AccessError, Actor, new_workspace_id
from vae import build_model, checkpoint, settings
from vae.runspec import DataSpec, RunSpec

LOCAL_LIMITS = settings.limits({})  # local mode's defaults, whatever this shell's environment says


def spec(epochs=1, dataset="shapes", model=None, **train):
    return RunSpec.create(DataSpec(name=dataset, limit=1024), model=model or {"arch": "mlp", "hidden": [32]},
                          train={"epochs": epochs, "batch_size": 256, **train}, threads=1, device="cpu")




def registry(tmp_path, **options):
    return JobRegistry(tmp_path / "jobs", tmp_path / "models", **{"max_running": 1, "poll_s": 0.05,
                                                                  "limits": LOCAL_LIMITS, "mode": "local", **options})


@pytest.fixture
def reg(tmp_path):
    r = registry(tmp_path)
    yield r
    r.close()


@pytest.fixture
def held(tmp_path, monkeypatch):
    """A classroom registry that starts nothing (max_running 0): jobs stay queued, no workers."""
    monkeypatch.setenv("VAE_UPLOADS_DIR", str(tmp_path / "uploads"))
    r = registry(tmp_path, max_running=0, mode="classroom", limits=settings.limits({"VAE_MODE": "classroom"}))
    yield r
    r.close()


def upload_folder(tmp_path, name="zip-0123456789abcdef"):
    """A folder as services.uploads leaves one: directly in the uploads folder, with its marker."""
    folder = tmp_path / "uploads" / name
    folder.mkdir(parents=True)
    (folder / ".vae-upload").write_text('{"bytes": 0}')
    return folder


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


def test_submit_stores_the_run_spec(reg, tmp_path):
    asked = dataclasses.replace(spec(epochs=3), threads=0, out="ignored")
    job_id = reg.submit("stored", asked)
    st = reg.status(job_id)
    assert isinstance(st.spec, RunSpec) and st.epochs == 3
    assert st.spec.out == str((tmp_path / "models" / "stored").resolve())  # the registry picks the folder
    assert st.spec.threads == 1  # never "all cores" in the background
    assert st.spec == dataclasses.replace(asked, out=st.spec.out, threads=1)
    assert (tmp_path / "jobs" / job_id / "spec.json").read_text() == st.spec.to_json()
    reg.stop(job_id)
    with pytest.raises(TypeError, match="RunSpec"):
        reg.submit("as-dict", asked.to_dict())


def test_queue_positions_stop_and_resume(reg, tmp_path):
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
    resume_settled(reg, first, target)
    job_dir = tmp_path / "jobs" / first
    stored = RunSpec.from_json((job_dir / "spec.json").read_text())
    assert stored.resume == str(job_dir / "checkpoint") and stored.train.epochs == target
    assert stored == reg.status(first).spec and reg.status(first).epochs == target
    st = wait(reg, first, ("done", "failed"))
    assert st.state == "done", st.error
    steps = [s[0] for s in st.steps]
    assert steps == sorted(steps) and steps[-1] == target * st.steps_per_epoch  # one curve, continued
    assert steps[0] <= stopped_at


def test_cancel_a_queued_job_then_start_it_afresh(reg):
    a = reg.submit("a", spec(epochs=20))
    b = reg.submit("b", spec())
    reg.stop(b)
    assert reg.status(b).state == "stopped"
    reg.stop(a)
    wait(reg, a, ("stopped",))
    with pytest.raises(JobError, match="epochs must be >= 1"):
        reg.resume(b, epochs=-1)
    assert reg.status(b).state == "stopped"
    reg.resume(b)  # it never saved a checkpoint: there is nothing to resume from, so it starts afresh
    assert reg.status(b).spec.resume is None
    st = wait(reg, b, ("done", "failed"))
    assert st.state == "done", st.error


def _no_state_checkpoint(tmp_path):
    """A checkpoint folder without training state (like a shipped model) for a job to try to resume."""
    s = spec()
    ck = tmp_path / "final-only"
    checkpoint.save(ck, build_model(s.model), "shapes")
    return dataclasses.replace(s, resume=str(ck))


def test_failures_are_reported_and_the_registry_keeps_running(reg, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_UPLOADS_DIR", str(tmp_path / "uploads"))
    bad_specs = [
        (spec(dataset=f"folder:{upload_folder(tmp_path)}"), "no images"),
        (spec(epochs=50, lr=1e6, batch_size=32, model={"likelihood": "gaussian", "learn_sigma": True}), "loss became"),
        (_no_state_checkpoint(tmp_path), "has no training state"),
    ]
    bad = [(reg.submit(f"bad{i}", s), message) for i, (s, message) in enumerate(bad_specs)]
    good = reg.submit("good", spec())
    for job_id, message in bad:
        st = wait(reg, job_id, ("failed", "done"))
        assert st.state == "failed" and message in st.error, st.error
    assert wait(reg, good, ("done", "failed")).state == "done"


def test_reaping_removes_old_finished_jobs(tmp_path):
    reg = registry(tmp_path, reap_after_s=0.3)
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


def test_the_monitor_skips_malformed_event_lines(tmp_path, capsys):
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    good_start = Started(epochs=2, steps_per_epoch=4, data="shapes", resumed_from_epoch=0, resumed_step=0)
    step = Step(epoch=1, epochs=2, step=1, epoch_step=1, steps_per_epoch=4, recon=50.0, kl=3.0, loss=53.0,
                kl_weight=1.0, samples_per_s=900.0, eta_s=2.0)
    epoch = Epoch(epoch=1, epochs=2, train={"neg_elbo": 53.0}, test=None, seconds=1.0, samples_per_s=900.0,
                  eta_s=1.0, image="epoch-1.png")
    lines = [good_start.to_line(), "not json\n", '{"type": "step", "epoch": 1}\n', '{"type": "teleport"}\n',
             step.to_line(), epoch.to_line()]
    (job_dir / "events.jsonl").write_text("".join(lines))
    job = JobStatus(id="j1", name="n", spec=spec(), job_dir=str(job_dir))
    assert read_events(job, 0) == len("".join(lines))  # what the monitor calls for each job
    assert (job.steps_per_epoch, job.epochs, job.data) == (4, 2, "shapes")
    assert job.steps == [(1, 50.0, 3.0)] and job.step == 1 and job.eta_s == 1.0
    assert job.epoch_log == [{"epoch": 1, "train": {"neg_elbo": 53.0}, "test": None, "seconds": 1.0,
                              "image": "epoch-1.png"}]
    err = capsys.readouterr().err
    assert err.count("skipped a bad event line") == 3
    assert "not a JSON line" in err and "missing" in err and "unknown event type 'teleport'" in err


def test_a_worker_given_a_bad_spec_reports_why(tmp_path):
    (tmp_path / "spec.json").write_text(spec().to_json().replace('"limit"', '"limt"'))
    assert worker.run(tmp_path) == 1  # fails while reading the spec: before it lowers its priority or trains
    events = [parse_line(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert len(events) == 1 and isinstance(events[0], Failed)
    assert "unknown DataSpec key(s): limt" in events[0].error


# ----- ownership ---------------------------------------------------------------------------------
A, B = Actor(new_workspace_id()), Actor(new_workspace_id())
TEACHER = Actor(teacher=True)
ONLY_OWNER = r"Only the student who started this job \(or the teacher\) can"


@pytest.mark.parametrize("actor", [A, TEACHER], ids=["student", "teacher"])
@pytest.mark.parametrize("name", ["mnist-2d", "MNIST-2d", "class", "ws-" + "x" * 22])
def test_shipped_and_workspace_names_are_refused_for_everyone(held, name, actor):
    with pytest.raises(JobError, match="choose another name"):
        held.submit(name, spec(), actor)
    assert held.list() == []


def test_two_workspaces_may_use_the_same_name(held, tmp_path):
    a, b = held.submit("my-mnist-2d", spec(), A), held.submit("my-mnist-2d", spec(), B)
    outs = {held.status(j).spec.out for j in (a, b)}
    assert outs == {str((tmp_path / "models" / f"ws-{x.workspace}" / "my-mnist-2d").resolve()) for x in (A, B)}
    assert (held.status(a).owner, held.status(b).owner) == (A.workspace, B.workspace)
    with pytest.raises(JobError, match="already training a model called 'my-mnist-2d'"):
        held.submit("my-mnist-2d", spec(), A, overwrite=True)  # A's first job still writes that folder


def test_a_classroom_needs_a_workspace_to_train(held):
    with pytest.raises(JobError, match="workspace"):
        held.submit("mine", spec(), LOCAL)


def test_only_the_owner_or_the_teacher_may_stop_or_resume(held):
    job = held.submit("mine", spec(), A)
    for request in (lambda: held.stop(job, B), lambda: held.stop(job), lambda: held.resume(job, 2, B)):
        with pytest.raises(JobAccessError, match=ONLY_OWNER) as info:
            request()
        assert isinstance(info.value, AccessError) and isinstance(info.value, JobError)
    assert held.status(job).state == "queued"  # unaffected
    assert held.status(job).spec.train.epochs == 1
    held.stop(job, TEACHER)
    assert held.status(job).state == "stopped"
    with pytest.raises(JobAccessError, match="can resume it"):
        held.resume(job, None, B)
    held.resume(job, 2, A)
    st = held.status(job)
    assert (st.state, st.epochs, st.owner) == ("queued", 2, A.workspace)


def test_listing_shows_your_own_jobs_and_the_teacher_all(held):
    a, b = held.submit("one", spec(), A), held.submit("two", spec(), B)
    assert [j.id for j in held.list(A)] == [a] and [j.id for j in held.list(B)] == [b]
    assert [j.id for j in held.list(TEACHER)] == [a, b] == [j.id for j in held.list()]
    assert held.list(A, ids=[b]) == [] and [j.id for j in held.list(TEACHER, ids=[b])] == [b]
    assert [j.id for j in held.list([b])] == [b]  # the page's older call: a list of ids
    assert held.status(b).name == "two"  # anyone with the id may look (a shared link)
