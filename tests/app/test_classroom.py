"""AppTest: classroom mode. Each browser's workspace sees the shipped models, the class's
published ones and its own, never another student's; shipped names always win; the teacher
signs in with the token; nothing in the sidebar shows a server path."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from app_helpers import APP, TIMEOUT
from streamlit.testing.v1 import AppTest

from services import workspace
from services.catalog import SHIPPED_DIR

TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def classroom(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("VAE_MODE", "classroom")
    monkeypatch.setenv("VAE_TEACHER_TOKEN", TOKEN)
    return tmp_path / "user_models"  # VAE_USER_MODELS, set by tests/app/conftest.py


def _plant(folder: Path, name: str, dataset: str | None = None) -> Path:
    """A copy of the shipped mnist-2d saved as ``folder/name`` (optionally claiming ``dataset``)."""
    dest = folder / name
    shutil.copytree(SHIPPED_DIR / "mnist-2d", dest)
    if dataset is not None:
        card = json.loads((dest / "config.json").read_text())
        card["dataset"] = dataset
        (dest / "config.json").write_text(json.dumps(card))
    return dest


def _session(ws: str | None, query: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if ws is not None:
        at.session_state["_workspace"] = ws
    if query:
        at.query_params["model"] = query
    at.run()
    assert not at.exception, at.exception
    return at


def _picker_labels(at: AppTest) -> list[str]:
    return list(at.sidebar.selectbox(key="model_picker").options)  # AppTest gives the shown labels


def test_each_workspace_sees_only_its_own_models(classroom):
    a, b = workspace.new_workspace_id(), workspace.new_workspace_id()
    _plant(workspace.models_dir_for(workspace.Actor(a), classroom), "my-mnist-2d")
    _plant(workspace.models_dir_for(workspace.Actor(b), classroom), "my-mnist-2d")
    _plant(workspace.class_dir(classroom), "class-demo")
    for ws in (a, b):
        labels = _picker_labels(_session(ws))
        assert sum("(yours)" in label for label in labels) == 1, labels
        assert any(label.startswith("class-demo (class)") for label in labels)
    own_a = workspace.models_dir_for(workspace.Actor(a), classroom) / "my-mnist-2d"
    own_b = workspace.models_dir_for(workspace.Actor(b), classroom) / "my-mnist-2d"
    at_b = _session(b)
    at_b.sidebar.selectbox(key="model_picker").set_value(str(own_b)).run()
    assert at_b.session_state["model_path"] == str(own_b)
    assert str(own_a) not in at_b.sidebar.selectbox(key="model_picker").proto.options  # not even offered
    assert "my-mnist-2d" not in " ".join(_picker_labels(_session(None)))  # no workspace yet: nothing own


def test_shipped_name_wins_over_a_planted_user_model(classroom):
    a = workspace.new_workspace_id()
    _plant(workspace.models_dir_for(workspace.Actor(a), classroom), "mnist-2d")
    at = _session(a, query="mnist-2d")
    assert at.session_state["model_path"] == str(SHIPPED_DIR / "mnist-2d")
    assert sum(label.startswith("mnist-2d") for label in _picker_labels(at)) == 1


def test_no_server_paths_in_the_sidebar(classroom):
    a = workspace.new_workspace_id()
    secret = "/srv/secret-place/datasets/zip-0123abcd"
    planted = _plant(workspace.models_dir_for(workspace.Actor(a), classroom), "zip-model", dataset=f"folder:{secret}")
    (planted.parent / "broken").mkdir()  # an unreadable folder: its problem line must not show a path
    at = _session(a)
    at.sidebar.selectbox(key="model_picker").set_value(str(planted)).run()
    shown = " ".join([*(c.value for c in at.sidebar.caption), *(w.value for w in at.sidebar.warning),
                      *_picker_labels(at)])
    assert "folder zip-0123abcd" in shown and "broken" in shown
    assert "/srv" not in shown and str(classroom) not in shown


def test_teacher_sign_in_form_and_signed_in_view(classroom):
    """The typed sign-in itself is driven in a real browser (tests/e2e/test_e2e_classroom.py):
    AppTest loses form submits made from the sidebar of a multipage app."""
    at = _session(workspace.new_workspace_id())
    assert not at.sidebar.success
    assert at.sidebar.text_input(key="teacher_token_input").label == "Teacher token"
    teacher = AppTest.from_file(APP, default_timeout=TIMEOUT)
    teacher.session_state["_workspace"] = workspace.new_workspace_id()
    teacher.session_state["_teacher"] = True
    teacher.run()
    assert "Signed in as the teacher" in teacher.sidebar.success[0].value
    assert not teacher.sidebar.text_input


def test_sign_in_checks_the_token_and_counts_tries(classroom, monkeypatch):
    from ui import session

    fake: dict = {}
    monkeypatch.setattr(session.st, "session_state", fake)
    assert not session._sign_in("wrong-token-123") and fake["_teacher"] is False
    assert session._sign_in(TOKEN) and fake["_teacher"] is True
    fake["_teacher_tries"] = session.MAX_TOKEN_TRIES
    assert not session._sign_in(TOKEN)  # too many tries: even the right token is refused


def test_local_mode_is_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_MODE", "local")
    _plant(tmp_path / "user_models", "mine")
    labels = _picker_labels(_session(None))
    assert any(label.startswith("mine (yours)") for label in labels)
    assert not any("Teacher" in e.label for e in _session(None).sidebar.expander)


def test_public_mode_trains_nothing(monkeypatch):
    monkeypatch.setenv("VAE_MODE", "public")
    at = _session(None)
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert [i.value for i in at.info] == ["Training is turned off on this server: explore the models on the other "
                                          "pages."]
    assert not at.button and not at.text_input  # no form, no job controls
    assert "Public mode" in " ".join(c.value for c in at.sidebar.caption)


def test_classroom_train_page_waits_for_the_workspace_then_offers_no_zip_without_quota(classroom, monkeypatch):
    at = _session(None)
    at.switch_page("pages/train.py").run()
    assert any("Connecting to your workspace" in i.value for i in at.info)
    assert not at.main.button  # no form yet
    monkeypatch.setenv("VAE_UPLOADS_QUOTA_MB", "0")
    at = _session(workspace.new_workspace_id())
    at.switch_page("pages/train.py").run()
    assert "upload a zip of images" not in at.selectbox(key="train_dataset").options
    assert "up to 50 epochs" in " ".join(c.value for c in at.caption)
