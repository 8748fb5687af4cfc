"""AppTest: the Lessons page: the lessons listed, a step answered and revealed, progress, and
a broken lesson file that leaves the others usable."""
from __future__ import annotations

import shutil

from app_helpers import open_app, shown

from services import lessons
from services.catalog import list_models

FIRST = "01-latent-space"


def _app():
    return open_app("mnist-2d", "pages/lessons.py")


def _answer(at, step: int):
    return next(w for w in [*at.radio, *at.slider] if w.key == f"lesson_{FIRST}_{step}_answer")


def _progress(at) -> str:
    return at.get("progress")[0].proto.text


def _check(at, step: int):
    return at.button(key=f"lesson_{FIRST}_{step}_check").click().run()


def test_the_page_lists_the_four_lessons():
    at = _app()
    assert not at.exception and not at.error and not at.warning
    titles = at.selectbox(key="lesson_pick").options
    assert len(titles) >= 4
    for topic in ("latent space", "ELBO", "slerp", "anomaly"):
        assert any(topic in t for t in titles), (topic, titles)
    assert at.subheader[0].value == "Step 1 of 4: Squeezing an image into a code"
    assert _progress(at) == "Progress: 0 of 4 steps done"
    assert at.button(key=f"lesson_{FIRST}_next").disabled  # predict before moving on


def test_checking_an_answer_reveals_the_model_and_the_explanation():
    at = _app()
    _check(at, 0)
    assert "Choose an answer first" in at.warning[0].value  # nothing chosen yet
    assert _progress(at) == "Progress: 0 of 4 steps done"

    _answer(at, 0).set_value("784").run()
    _check(at, 0)
    assert not at.exception
    assert "The model's answer: 2." in at.info[0].value and "Your answer: 784" in at.info[0].value
    shown = " ".join(m.value for m in at.markdown)
    assert "describes each image with **2 numbers**" in shown  # computed from the model
    assert "is the **latent space**" in shown  # the explanation
    assert _progress(at) == "Progress: 1 of 4 steps done"
    assert _answer(at, 0).disabled  # the prediction is locked once revealed
    assert any("What is a latent space?: 1/4" in c.value for c in at.caption)


def test_progress_advances_through_the_lesson_and_restarts():
    at = _app()
    _answer(at, 0).set_value("2").run()
    _check(at, 0)
    assert "Right!" in at.success[0].value
    at.button(key=f"lesson_{FIRST}_next").click().run()
    assert at.subheader[0].value == "Step 2 of 4: Walking through the latent space"
    _answer(at, 1).set_value("7").run()
    _check(at, 1)
    assert not at.exception
    assert "test images whose codes lie nearest to z = (-1.00, -1.00)" in " ".join(m.value for m in at.markdown)
    assert _progress(at) == "Progress: 2 of 4 steps done"
    at.button(key=f"lesson_{FIRST}_prev").click().run()
    assert at.subheader[0].value.startswith("Step 1 of 4") and _answer(at, 0).value == "2"  # kept
    at.button(key=f"lesson_{FIRST}_restart").click().run()
    assert _progress(at) == "Progress: 0 of 4 steps done"
    assert at.subheader[0].value.startswith("Step 1 of 4") and _answer(at, 0).value is None


def test_a_broken_lesson_file_shows_one_message_and_the_other_lessons(tmp_path, monkeypatch):
    for path in sorted(lessons.LESSONS_DIR.glob("*.toml"))[:2]:
        shutil.copy(path, tmp_path / path.name)
    good = (tmp_path / f"{FIRST}.toml").read_text(encoding="utf-8")
    (tmp_path / "09-broken.toml").write_text(good.replace('kind = "decode"', 'kind = "teleport"'), encoding="utf-8")
    (tmp_path / "10-unknown-model.toml").write_text(good.replace('model = "mnist-2d"', 'model = "mnist-99d"', 1),
                                                    encoding="utf-8")
    monkeypatch.setattr(lessons, "LESSONS_DIR", tmp_path)
    at = _app()
    assert not at.exception
    assert len(at.warning) == 1
    message = shown(at.warning[0].value)  # file text is escaped for Markdown
    assert "09-broken.toml: steps[1].widget.kind: unknown widget 'teleport'" in message
    assert "10-unknown-model.toml: model: no shipped model is called 'mnist-99d'" in message
    assert len(at.selectbox(key="lesson_pick").options) == 2
    _answer(at, 0).set_value("2").run()
    _check(at, 0)
    assert _progress(at) == "Progress: 1 of 4 steps done"


def test_every_shipped_lesson_can_be_walked_through():
    """Each step of each lesson draws its widget and reveals the model's answer, with no error."""
    entries, _ = list_models(actor=None)
    found, _ = lessons.load_all(lessons.LESSONS_DIR, {e.name: lessons.ModelInfo(e.latent_dim, e.dataset)
                                                      for e in entries})
    at = _app()
    for lesson in found:
        at.selectbox(key="lesson_pick").set_value(lesson.id).run()
        for i, step in enumerate(lesson.steps):
            key = f"lesson_{lesson.id}_{i}"
            if step.question.kind == "choice":
                next(r for r in at.radio if r.key == f"{key}_answer").set_value(step.question.options[0][0]).run()
            at.button(key=f"{key}_check").click().run()
            assert not at.exception and not at.error, (lesson.id, i, at.exception, at.error)
            assert "The model's answer: " in " ".join(m.value for m in [*at.success, *at.info]), (lesson.id, i)
            assert step.explanation.split()[0] in " ".join(m.value for m in at.markdown)
            if i + 1 < len(lesson.steps):
                at.button(key=f"lesson_{lesson.id}_next").click().run()
        assert at.get("progress")[0].proto.text == f"Progress: {len(lesson.steps)} of {len(lesson.steps)} steps done"
