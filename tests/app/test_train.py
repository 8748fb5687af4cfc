"""AppTest: the Train page's form, its validation, and a real (tiny) job shown live."""
import time

from app_helpers import open_app, shown

from vae.runspec import DataSpec, RunSpec


def _train_page():
    return open_app("mnist-2d", "pages/train.py")


def _start(at):
    next(b for b in at.button if b.key == "train_start").click().run()


def test_defaults_are_a_quick_mnist_2d_mlp():
    at = _train_page()
    assert at.selectbox(key="train_dataset").value == "mnist"
    assert at.selectbox(key="train_arch").value == "mlp"
    assert at.number_input(key="train_latent").value == 2
    assert at.number_input(key="train_epochs").value == 2
    assert at.text_input(key="train_name").value == "my-mnist-2d"


def test_bad_names_are_refused_with_a_reason():
    at = _train_page()
    for bad in ("../../etc", "a/b", ""):
        at.text_input(key="train_name").set_value(bad)
        _start(at)
        assert any("letters, digits" in shown(e.value) for e in at.error), bad
        assert not at.dataframe  # no job was started


def test_existing_model_name_needs_confirmation(tmp_path):
    models = tmp_path / "user_models"
    (models / "taken").mkdir(parents=True)
    at = _train_page()
    at.text_input(key="train_name").set_value("taken")
    _start(at)
    assert any("already exists" in e.value for e in at.error)


def test_start_a_job_and_see_it_finish(tmp_path):
    at = _train_page()
    at.selectbox(key="train_dataset").set_value("shapes").run()  # one change at a time, as a user would
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch").set_value(512)
    at.text_input(key="train_name").set_value("tiny-shapes")
    _start(at)
    assert not at.error, [e.value for e in at.error]
    assert at.dataframe, "the job list is missing"
    job_id = at.query_params["job"][0] if isinstance(at.query_params["job"], list) else at.query_params["job"]
    spec = RunSpec.from_json((tmp_path / "jobs" / job_id / "spec.json").read_text())  # what the form asked for
    assert spec.data == DataSpec(name="shapes", allow_sample=True)
    assert (spec.model.arch, spec.model.latent_dim, spec.train.epochs, spec.train.batch_size) == ("mlp", 2, 1, 512)
    assert (spec.threads, spec.device, spec.resume) == (1, "cpu", None)
    assert spec.out == str((tmp_path / "user_models" / "tiny-shapes").resolve())
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        at.run()
        text = " ".join(m.value for m in at.markdown)
        if "finished" in text or any("failed" in e.value for e in at.error):
            break
        time.sleep(1)
    assert not at.error, [e.value for e in at.error]
    assert any("Saved as **tiny-shapes**" in s.value for s in at.success)
    assert any(job_id in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 3  # recon, KL, -ELBO per epoch


def test_a_misconfigured_jobs_backend_says_why_instead_of_failing(monkeypatch):
    monkeypatch.setenv("VAE_JOBS_BACKEND", "slurm")
    at = _train_page()
    assert not at.exception
    assert any("Training is unavailable on this server" in e.value and "slurm" in e.value
               for e in at.error), [e.value for e in at.error]


def test_with_the_ray_backend_the_train_page_is_the_same(monkeypatch):
    """The page does not know where jobs run: chosen by settings, the Ray backend (optional) gives
    the same form; a cluster that cannot be reached fails the job, not the page (unit tests)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        import pytest
        pytest.skip("ray is not installed (optional: pip install -r requirements-ray.txt)")
    monkeypatch.setenv("VAE_JOBS_BACKEND", "ray")
    monkeypatch.setenv("VAE_RAY_ADDRESS", "http://127.0.0.1:9")
    at = _train_page()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="train_dataset").value == "mnist"


def test_a_class_conditional_model_is_told_its_datasets_classes(tmp_path):
    at = _train_page()
    at.selectbox(key="train_dataset").set_value("shapes").run()
    at.selectbox(key="train_arch").set_value("cmlp").run()
    at.number_input(key="train_epochs").set_value(1)
    at.text_input(key="train_name").set_value("tiny-cond-shapes")
    _start(at)
    assert not at.error, [e.value for e in at.error]
    job = at.query_params["job"]
    job_id = job[0] if isinstance(job, list) else job
    spec = RunSpec.from_json((tmp_path / "jobs" / job_id / "spec.json").read_text())
    assert (spec.model.arch, spec.model.num_classes) == ("cmlp", 3)  # shapes: square, ellipse, heart
