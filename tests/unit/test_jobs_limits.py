"""What a classroom server refuses before a job is queued: limits, hostile specs, datasets that
are not this server's uploads; and the per-job wall-clock limit, which stops a job resumably."""
import dataclasses
import json
import os

import pytest
from job_helpers import resume_settled, wait

from services import worker
from services.events import Started, Stopped, parse_line
from services.jobs import DATASETS_ONLY, JobError, JobRegistry
from services.workspace import Actor, new_workspace_id
from vae import settings
from vae.config import ConfigError
from vae.runspec import DataSpec, RunSpec

CLASSROOM = settings.limits({"VAE_MODE": "classroom"})
A, B = Actor(new_workspace_id()), Actor(new_workspace_id())


def spec(epochs=1, dataset="shapes", limit=1024, model=None, data=None, **train):
    return RunSpec.create(DataSpec(name=dataset, limit=limit, **(data or {})),
                          model=model or {"arch": "mlp", "hidden": [32]},
                          train={"epochs": epochs, "batch_size": 256, **train}, threads=1, device="cpu")


def registry(tmp_path, **options):
    options = {"max_running": 0, "poll_s": 0.05, "limits": CLASSROOM, "mode": "classroom", **options}
    return JobRegistry(tmp_path / "jobs", tmp_path / "models", **options)


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    root = tmp_path / "uploads"
    root.mkdir()
    monkeypatch.setenv("VAE_UPLOADS_DIR", str(root))
    return root


@pytest.fixture
def held(tmp_path, uploads):
    """A classroom registry that starts nothing: what it accepts stays queued."""
    r = registry(tmp_path)
    yield r
    r.close()


def upload(root, name="zip-0123456789abcdef", images=3):
    """An upload folder as services.uploads leaves one: marker, and ``images`` (empty) PNG files."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / ".vae-upload").write_text('{"bytes": 0}')
    for i in range(images):
        (folder / f"{i}.png").write_bytes(b"")
    return folder


def refused(reg, message, name="mine", actor=A, job_spec=None):
    """Submitting is refused with ``message`` and leaves no job behind."""
    with pytest.raises(JobError, match=message):
        reg.submit(name, job_spec or spec(), actor)
    assert reg.list() == []


@pytest.mark.parametrize("train, message", [
    ({"epochs": 10**9}, "Epochs must be a whole number from 1 to 50"),
    ({"epochs": 51}, "Epochs must be a whole number from 1 to 50"),
    ({"epochs": 2.5}, "Epochs must be a whole number"),
    ({"epochs": True}, "Epochs must be a whole number"),
    ({"batch_size": 10**6}, "batch size must be a whole number from 1 to 1024"),
    ({"batch_size": 64.0}, "batch size must be a whole number"),
    ({"eval_batch_size": 0}, "evaluation batch size"),
    ({"eval_batch_size": 10**9}, "evaluation batch size"),
    ({"seed": "x"}, "seed must be a whole number"),
])
def test_hostile_training_settings_from_json_are_refused(held, train, message):
    text = json.dumps({**spec().to_dict(), "train": {**spec().train.to_dict(), **train}})
    refused(held, message, job_spec=RunSpec.from_json(text))


@pytest.mark.parametrize("train", [{"epochs": -1}, {"epochs": "5"}, {"batch_size": 0}, {"batch_size": [1]},
                                   {"lr": "0.1"}, {"nonsense": 1}])
def test_hostile_json_never_becomes_a_run_spec(train):
    text = json.dumps({**spec().to_dict(), "train": {**spec().train.to_dict(), **train}})
    with pytest.raises(ConfigError):
        RunSpec.from_json(text)


@pytest.mark.parametrize("change, message", [
    ({"device": "cuda"}, "CPU"),
    ({"resume": "/somewhere/else"}, "cannot start from a checkpoint"),
    ({"final_iwae_k": 10**6}, "final_iwae_k may be at most"),
])
def test_a_classroom_job_runs_on_the_cpu_from_scratch(held, change, message):
    refused(held, message, job_spec=dataclasses.replace(spec(), **change))


def test_huge_models_are_refused_without_building_them(held):
    refused(held, "parameters; at most", job_spec=spec(model={"arch": "mlp", "hidden": [100_000, 100_000]}))


def test_threads_become_one_and_local_mode_keeps_its_options(tmp_path, held):
    job = held.submit("mine", dataclasses.replace(spec(), threads=64), A)
    assert held.status(job).spec.threads == 1
    local = registry(tmp_path / "local", mode="local", limits=settings.limits({}))
    try:
        job = local.submit("mine", dataclasses.replace(spec(), threads=2, device="cuda"))
        assert (local.status(job).spec.threads, local.status(job).spec.device) == (2, "cuda")
    finally:
        local.close()


def test_only_listed_datasets_and_this_servers_uploads(held, uploads, tmp_path):
    outside = upload(tmp_path / "elsewhere")  # has a marker, but is not in the uploads folder
    (uploads / "zip-fedcba9876543210").symlink_to(outside, target_is_directory=True)
    plain = uploads / "zip-00000000000000ff"
    plain.mkdir()  # no marker: not made by this server
    for path in ("/etc", "/no/such/folder", str(uploads), f"{uploads}/../elsewhere/{outside.name}", str(outside),
                 f"{uploads}/zip-fedcba9876543210", str(plain), "~", "."):
        refused(held, DATASETS_ONLY, job_spec=spec(dataset=f"folder:{path}"))
    refused(held, DATASETS_ONLY, job_spec=spec(data={"data_dir": "/etc"}))
    mine = upload(uploads)
    job = held.submit("mine", spec(dataset=f"folder:{uploads}/./{mine.name}"), A)
    assert held.status(job).spec.data.name == f"folder:{mine.resolve()}"


def test_the_refusal_does_not_tell_whether_a_path_exists(held, tmp_path):
    messages = []
    for path in ("/etc", "/no/such/folder"):
        with pytest.raises(JobError) as info:
            held.submit("mine", spec(dataset=f"folder:{path}"), A)
        messages.append(str(info.value))
    assert messages[0] == messages[1] == DATASETS_ONLY


def test_training_set_size_is_estimated_before_any_data_is_loaded(tmp_path, uploads, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("data was loaded")

    monkeypatch.setattr("vae.runspec.load_dataset", no_loading)
    monkeypatch.setattr("vae.registry.load_folder", no_loading)
    monkeypatch.setattr("vae.data.folder._read", no_loading)  # no image is decoded either
    folder = upload(uploads, images=100)
    small = dataclasses.replace(CLASSROOM, max_train_values=100 * 28 * 28 - 1)
    reg = registry(tmp_path, limits=small)
    try:
        with pytest.raises(JobError, match="too large for this server .78,400 values"):
            reg.submit("big", spec(dataset=f"folder:{folder}", limit=0), A)
        reg.submit("fits", spec(dataset=f"folder:{folder}", limit=99), A)  # limit counts
    finally:
        reg.close()


def test_shipped_sets_are_estimated_from_their_known_sizes(held):
    assert DataSpec(name="mnist").train_values() == 60_000 * 784 <= CLASSROOM.max_train_values
    assert DataSpec(name="shapes-64", limit=100).train_values() == 100 * 64 * 64
    refused(held, "too large", job_spec=spec(dataset="shapes-64", limit=0))  # 20,000 x 64 x 64 > 60,000,000
    held.submit("mine", spec(dataset="shapes-64", limit=1000), A)


def test_jobs_per_workspace_are_capped(held):
    first, _ = held.submit("one", spec(), A), held.submit("two", spec(), A)
    with pytest.raises(JobError, match="You already have 2 jobs queued or running"):
        held.submit("three", spec(), A)
    held.submit("three", spec(), B)  # another workspace has its own allowance
    held.stop(first, A)
    held.submit("three", spec(), A)
    with pytest.raises(JobError, match="You already have 2 jobs"):
        held.resume(first, None, A)  # resuming queues it again: it counts


def test_training_can_be_turned_off(tmp_path, uploads):
    reg = registry(tmp_path, limits=dataclasses.replace(CLASSROOM, jobs_per_workspace=0))
    try:
        refused(reg, "Training is turned off on this server.")
    finally:
        reg.close()


def test_resuming_is_held_to_the_epoch_limit(held):
    job = held.submit("mine", spec(), A)
    held.stop(job, A)
    for epochs, message in ((51, "from 1 to 50"), (2.5, "whole number"), (-1, "epochs must be >= 1")):
        with pytest.raises(JobError, match=message):
            held.resume(job, epochs, A)
    assert held.status(job).state == "stopped"


def _events(job_dir):
    return [parse_line(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]




def test_the_time_limit_stops_a_job_which_can_then_resume(tmp_path, uploads):
    limits = dataclasses.replace(CLASSROOM, job_time_limit_s=1, max_epochs=1000)
    reg = registry(tmp_path, max_running=1, limits=limits)
    try:
        job = reg.submit("slow", spec(epochs=1000, limit=512), A)  # far more than 1 s of work
        st = wait(reg, job, ("stopped", "done", "failed"))
        assert (st.state, st.stop_reason, st.label) == ("stopped", "time limit of 1 s reached",
                                                        "stopped: time limit of 1 s reached")
        assert (tmp_path / "jobs" / job / "checkpoint").is_dir()  # saved on the way out
        stopped = [e for e in _events(tmp_path / "jobs" / job) if isinstance(e, Stopped)]
        assert len(stopped) == 1 and stopped[0].reason == "time limit of 1 s reached"
        reg.limits = dataclasses.replace(limits, job_time_limit_s=0)
        resume_settled(reg, job, stopped[0].epoch + 1, A)  # finish the epoch it was in
        st = wait(reg, job, ("stopped", "done", "failed"))
        assert st.state == "done", st.error
    finally:
        reg.close()
    starts = [e for e in _events(tmp_path / "jobs" / job) if isinstance(e, Started)]
    assert len(starts) == 2 and starts[1].resumed_step == stopped[0].step  # went on from its checkpoint
    assert st.step == (stopped[0].epoch + 1) * st.steps_per_epoch and st.stop_reason is None


def test_the_worker_reads_its_time_limit(tmp_path):
    assert worker.main([str(tmp_path), "--time-limit", "soon"]) == 2
    assert worker.main([str(tmp_path), "--time-limit", "-1"]) == 2
    assert worker.main([str(tmp_path), "--limit", "5"]) == 2
    assert worker.time_limit_text(1800) == "time limit of 30 min reached"
    assert worker.time_limit_text(90) == "time limit of 90 s reached"
    assert os.path.exists(tmp_path) and not (tmp_path / "events.jsonl").exists()  # nothing ran
