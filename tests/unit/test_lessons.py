"""Lessons as data: the shipped lesson files validate, every check computes an answer of the
right type, a malformed lesson gets a message naming its file and field, grading."""
from __future__ import annotations

import math
import shutil

import pytest
import torch

from services import lesson_checks, lessons
from services.catalog import list_models
from vae.config import ModelConfig
from vae.data.base import ImageData
from vae.models import build_model

MODELS = {"mnist-2d": lessons.ModelInfo(2, "mnist"), "mnist-20d": lessons.ModelInfo(20, "mnist")}

MINIMAL = """
title = "A lesson"
summary = "One step."
model = "mnist-2d"

[[steps]]
text = "Some text."
explanation = "Why."
widget = { kind = "decode", z = [0.0, 0.0] }

[steps.question]
kind = "choice"
prompt = "Which?"
options = ["linear", "spherical"]
check = "shorter_midpoint"
"""


def _shipped_models() -> dict[str, lessons.ModelInfo]:
    entries, _ = list_models(actor=None)
    return {e.name: lessons.ModelInfo(e.latent_dim, e.dataset) for e in entries}


def test_every_shipped_lesson_validates():
    found, problems = lessons.load_all(lessons.LESSONS_DIR, _shipped_models())
    assert problems == []
    assert len(found) >= 4
    titles = " ".join(lesson.title for lesson in found).lower()
    for topic in ("latent space", "elbo", "slerp", "anomaly"):
        assert topic in titles
    for lesson in found:
        assert 3 <= len(lesson.steps) <= 5, lesson.id
        for step in lesson.steps:
            assert step.question.check in (None, *lesson_checks.CHECKS)


def test_minimal_lesson_parses():
    lesson = lessons.parse(MINIMAL, "x.toml", MODELS)
    assert lesson.id == "x" and lesson.model == "mnist-2d"
    (step,) = lesson.steps
    assert step.title == "Step 1" and step.widget.kind == "decode" and step.widget.params == {"z": [0.0, 0.0]}
    q = step.question
    assert q.options == (("linear", "linear"), ("spherical", "spherical"))
    assert q.check == "shorter_midpoint" and q.params == {"a": {}, "b": {"index": 1}}  # the defaults


BROKEN = [
    (("title = \"A lesson\"", "title = \"A lesson\"\ncolour = \"red\""), "x.toml: colour: unknown key"),
    (("explanation = \"Why.\"\n", ""), "x.toml: steps[0].explanation: missing"),
    (('kind = "decode"', 'kind = "dance"'), "x.toml: steps[0].widget.kind: unknown widget 'dance'"),
    (('model = "mnist-2d"', 'model = "nope"'), "x.toml: model: no shipped model is called 'nope'"),
    (('check = "shorter_midpoint"', 'check = "prior_norm"'), "steps[0].question.check: 'prior_norm' answers a guess"),
    (('check = "shorter_midpoint"', 'check = "no_such"'), "steps[0].question.check: unknown check 'no_such'"),
    (('["linear", "spherical"]', '["linear", "curvy"]'), "steps[0].question.options: the check 'shorter_midpoint' "
                                                          "can answer 'spherical'"),
    (("z = [0.0, 0.0]", "z = [0.0]"), "steps[0].widget.z: must be a list of 2 numbers"),
    (("z = [0.0, 0.0]", "z = [0.0, 99.0]"), "steps[0].widget.z[1]: must be between -10 and 10"),
    (('check = "shorter_midpoint"', 'answer = "curvy"'), "steps[0].question.answer: 'curvy' is not one of"),
    (('check = "shorter_midpoint"', 'check = "shorter_midpoint"\nanswer = "linear"'),
     "steps[0].question.answer: give either a fixed answer or a check"),
    (('check = "shorter_midpoint"', 'check = "shorter_midpoint"\nparams = { c = 1 }'),
     "steps[0].question.params.c: unknown parameter"),
    (('check = "shorter_midpoint"', 'check = "shorter_midpoint"\nparams = { a = { dataset = "cifar" } }'),
     "steps[0].question.params.a.dataset: unknown dataset 'cifar'"),
    (('prompt = "Which?"', "prompt = 3"), "steps[0].question.prompt: must be a text, got int"),
    (("[[steps]]", "[[steps]\n"), "x.toml: not valid TOML"),
]


@pytest.mark.parametrize(("change", "message"), BROKEN, ids=[m.split(": ")[1][:30] for _, m in BROKEN])
def test_a_malformed_lesson_names_its_file_and_field(change, message):
    old, new = change
    assert old in MINIMAL
    with pytest.raises(lessons.LessonError) as err:
        lessons.parse(MINIMAL.replace(old, new, 1), "x.toml", MODELS)
    assert message in str(err.value)


def test_guess_questions_are_checked():
    guess = MINIMAL.replace('kind = "choice"', 'kind = "guess"').replace('options = ["linear", "spherical"]\n', "")
    guess = guess.replace('check = "shorter_midpoint"', 'check = "prior_norm"\nmin = 0\nmax = 10\ntolerance = 0.5')
    q = lessons.parse(guess, "g.toml", MODELS).steps[0].question
    assert (q.lo, q.hi, q.tolerance, q.step) == (0.0, 10.0, 0.5, 0.1)
    with pytest.raises(lessons.LessonError, match="g.toml: steps.0..question.max: must be larger than min"):
        lessons.parse(guess.replace("max = 10", "max = -1"), "g.toml", MODELS)
    with pytest.raises(lessons.LessonError, match=r"question.tolerance: missing"):
        lessons.parse(guess.replace("tolerance = 0.5", ""), "g.toml", MODELS)


def test_a_broken_file_does_not_hide_the_others(tmp_path):
    (tmp_path / "01-good.toml").write_text(MINIMAL, encoding="utf-8")
    (tmp_path / "02-bad.toml").write_text(MINIMAL.replace('kind = "decode"', 'kind = "dance"'), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a lesson", encoding="utf-8")
    found, problems = lessons.load_all(tmp_path, MODELS)
    assert [lesson.id for lesson in found] == ["01-good"]
    assert len(problems) == 1 and problems[0].startswith("02-bad.toml: steps[0].widget.kind: unknown widget")


def test_shipped_lessons_copied_elsewhere_still_load(tmp_path):
    for path in sorted(lessons.LESSONS_DIR.glob("*.toml")):
        shutil.copy(path, tmp_path / path.name)
    found, problems = lessons.load_all(tmp_path, _shipped_models())
    assert problems == [] and len(found) == len(list(lessons.LESSONS_DIR.glob("*.toml")))


def test_grading():
    choice = lessons.Question("choice", "?", options=(("a", "A"), ("b", "B")), answer="a")
    assert lessons.grade(choice, "a", "a") and not lessons.grade(choice, "b", "a")
    guess = lessons.Question("guess", "?", lo=0, hi=100, step=1, tolerance=10, unit="%")
    assert lessons.grade(guess, 60, 70.0) and lessons.grade(guess, 80, 70.0) and not lessons.grade(guess, 81, 70.0)
    assert not lessons.grade(guess, None, 70.0)
    assert guess.label(81.95) == "82%" and choice.label("b") == "B"
    assert lessons.reveal(choice, None).answer == "a"  # a fixed answer needs no model


# ---- the checks, on a tiny model and synthetic data --------------------------------------------

def _data(n: int = 120, seed: int = 0) -> ImageData:
    gen = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 1, 28, 28, generator=gen) * 255).to(torch.uint8)
    return ImageData("mnist", "test", images, torch.arange(n) % 10, tuple(str(i) for i in range(10)), "synthetic")


def _context(arch: str = "mlp", latent_dim: int = 3) -> lesson_checks.Context:
    torch.manual_seed(0)  # the test model's weights only; the checks use their own generators
    classes = 10 if arch.startswith("c") else 0
    model = build_model(ModelConfig(arch=arch, num_classes=classes, latent_dim=latent_dim, hidden=(16,))).eval()
    data = {"mnist": _data(), "fashion-mnist": _data(seed=1)}
    return lesson_checks.Context(model, "mnist", data.__getitem__)


def _defaults(spec: lesson_checks.CheckSpec, latent_dim: int) -> dict:
    params = {k: p.default for k, p in spec.params.items()}
    if "z" in params:
        params["z"] = [0.5] * latent_dim
    if "n" in params:
        params["n"] = 200
    return params


@pytest.mark.parametrize("arch", ["mlp", "cmlp"])
@pytest.mark.parametrize("name", sorted(lesson_checks.CHECKS))
def test_every_check_answers_with_the_right_type(name, arch):
    spec = lesson_checks.CHECKS[name]
    ctx = _context(arch)
    reveal = lesson_checks.run(name, ctx, _defaults(spec, 3))
    assert isinstance(reveal.text, str) and reveal.text
    if spec.kind == "choice":
        assert isinstance(reveal.answer, str)
        assert not spec.outcomes or reveal.answer in spec.outcomes
    else:
        assert isinstance(reveal.answer, float) and math.isfinite(reveal.answer)
    again = lesson_checks.run(name, _context(arch), _defaults(spec, 3))
    assert again == reveal  # seeded: the same model and parameters give the same reveal


def test_prior_checks_match_the_theory():
    """In D = 20: |z| is about sqrt(D), two draws are about 90 degrees apart, and the lerp
    midpoint of two draws is about 1/sqrt(2) as long."""
    ctx = _context(latent_dim=20)
    assert abs(lesson_checks.prior_norm(ctx).answer - math.sqrt(20)) < 0.2
    assert abs(lesson_checks.prior_angle(ctx).answer - 90) < 3
    assert abs(lesson_checks.lerp_midpoint_ratio(ctx).answer - 1 / math.sqrt(2)) < 0.02
    assert lesson_checks.shorter_midpoint(ctx).answer == "linear"  # |lerp mid| <= |slerp mid| always


def test_images_are_picked_by_class_and_dataset():
    ctx = _context()
    img = lesson_checks.pick_image(ctx, {"dataset": "fashion-mnist", "class": 3, "index": 2})
    assert img.label == 3 and not img.own and img.x.shape == (1, 1, 28, 28)
    assert img.caption == "fashion-mnist test image #23 (3)"  # the third image of class 3 (every 10th)
    with pytest.raises(ValueError, match="no images of class 42"):
        lesson_checks.pick_image(ctx, {"class": 42})
