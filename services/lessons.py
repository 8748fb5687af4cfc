"""Lessons as data: one TOML file per lesson in ``lessons/``, loaded and strictly validated.

A lesson has a ``title``, a ``summary``, the shipped ``model`` it runs on and 1-8 ``steps``.
Each step has ``text`` (Markdown, ``$math$`` allowed), an optional live ``widget`` (see
:data:`WIDGETS`), a ``question`` and an ``explanation`` shown with the model's answer. A
question is a ``choice`` (``options``) or a ``guess`` (a slider from ``min`` to ``max``,
right within ``tolerance``); its correct answer is either fixed (``answer``) or computed from
the model when revealed (``check``, a name from :data:`services.lesson_checks.CHECKS`, with
``params``). The README's "Adding a lesson" section shows a minimal file.

Validation is strict: an unknown key, a missing field, a wrong type, a widget or check that
does not exist, a model that is not shipped: :class:`LessonError`, naming the file and the
field. :func:`load_all` loads a folder and keeps going past broken files (one problem line
each). No Streamlit here.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services import lesson_checks
from services.lesson_checks import CHECKS, DIM_WORDS, Param
from vae.registry import DATASETS

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser as the tomli package (a dependency there)
    import tomli as tomllib

LESSONS_DIR = Path(__file__).resolve().parents[1] / "lessons"
MAX_STEPS = 8
MAX_OPTIONS = 10
MAX_TEXT = 4000
MAX_FILE_BYTES = 64_000

WIDGETS: dict[str, dict[str, Param]] = {
    "decode": {"z": Param("vector")},
    "traverse": {"dims": Param("dims", ["most_active"]), "z": Param("vector"), "limit": Param("float", 3.0, 0.1, 10.0)},
    "morph": {"a": Param("image", {}), "b": Param("image", {"index": 1}), "steps": Param("int", 8, 3, 16)},
    "reconstruct": {"images": Param("images", [{}])},
    "samples": {"seed": Param("int", 0, 0, 2**31 - 1), "temperature": Param("float", 1.0, 0.1, 2.0),
                "k": Param("int", 6, 2, 10)},
}


class LessonError(ValueError):
    """A lesson file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class ModelInfo:
    """What validation needs to know of a model a lesson names."""

    latent_dim: int
    dataset: str


@dataclass(frozen=True)
class Widget:
    kind: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Question:
    """``kind`` "choice" (``options``: (value, label) pairs) or "guess" (``lo``..``hi`` in
    ``step``, right within ``tolerance``, shown with ``unit``); the fixed ``answer`` or the
    ``check`` name and its ``params``."""

    kind: str
    prompt: str
    options: tuple[tuple[str, str], ...] = ()
    lo: float = 0.0
    hi: float = 1.0
    step: float = 0.01
    tolerance: float = 0.0
    unit: str = ""
    answer: str | float | None = None
    check: str | None = None
    params: dict[str, Any] | None = None

    def label(self, value: Any) -> str:
        """An option's label (a choice) or a number with its unit (a guess)."""
        if self.kind == "choice":
            return dict(self.options).get(value, str(value))
        decimals = max(0, min(4, -math.floor(math.log10(self.step) + 1e-9)))
        return f"{float(value):.{decimals}f}{self.unit}"


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    widget: Widget | None
    question: Question
    explanation: str
    model: str


@dataclass(frozen=True)
class Lesson:
    """One lesson file: ``id`` is its file name without ``.toml``."""

    id: str
    title: str
    summary: str
    model: str
    steps: tuple[Step, ...]


class _Fields:
    """Reads one TOML table strictly: every key must be read or listed, with the right type."""

    def __init__(self, table: Any, where: str, file: str):
        if not isinstance(table, dict):
            raise LessonError(f"{file}: {where} must be a table")
        self.table, self.where, self.file, self.seen = table, where, file, set()

    def fail(self, key: str, message: str) -> LessonError:
        return LessonError(f"{self.file}: {self.where}{'.' if self.where else ''}{key}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., ) -> Any:
        self.seen.add(key)
        if key not in self.table:
            if default is ...:
                raise self.fail(key, "missing")
            return default
        value = self.table[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(key, f"must be {_kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self.fail(key, f"must be {_kind_name(kind)}, got {type(value).__name__}")
        if isinstance(value, str) and (not value.strip() or len(value) > MAX_TEXT):
            raise self.fail(key, f"must be a text of 1 to {MAX_TEXT} characters")
        return value

    def done(self) -> None:
        extra = sorted(set(self.table) - self.seen)
        if extra:
            allowed = f" (allowed: {', '.join(sorted(self.seen))})" if self.seen else ""
            raise self.fail(extra[0], "unknown key" + allowed)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a text", int: "a whole number", float: "a number", list: "a list", dict: "a table",
             bool: "true/false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _number(f: _Fields, key: str, value: Any, lo: float | None, hi: float | None, integer: bool) -> float:
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)):
        raise f.fail(key, f"must be {'a whole number' if integer else 'a number'}, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise f.fail(key, f"must be between {lo:g} and {hi:g}, got {value!r}")
    return int(value) if integer else float(value)


def _image(f: _Fields, key: str, value: Any) -> dict[str, Any]:
    g = _Fields(value, f"{f.where}.{key}" if f.where else key, f.file)
    out: dict[str, Any] = {}
    dataset = g.get("dataset", str, None)
    if dataset is not None:
        if dataset not in DATASETS:
            raise g.fail("dataset", f"unknown dataset {dataset!r}; one of: {', '.join(DATASETS)}")
        out["dataset"] = dataset
    out["index"] = _number(g, "index", g.get("index", int, 0), 0, 1_000_000, True)
    cls = g.get("class", int, None)
    if cls is not None:
        out["class"] = _number(g, "class", cls, 0, 999, True)
    g.done()
    return out


def _dim(f: _Fields, key: str, value: Any, model: ModelInfo) -> int | str:
    if isinstance(value, str) and value in DIM_WORDS:
        return value
    if isinstance(value, str):
        raise f.fail(key, f"must be a dimension number or one of {', '.join(DIM_WORDS)}, got {value!r}")
    return _number(f, key, value, 0, model.latent_dim - 1, True)


def _list(f: _Fields, key: str, value: Any, lo: int, hi: int) -> list:
    if not isinstance(value, list) or not lo <= len(value) <= hi:
        raise f.fail(key, f"must be a list of {lo} to {hi} entries")
    return value


def _param(f: _Fields, key: str, spec: Param, value: Any, model: ModelInfo) -> Any:
    """One parameter's value, checked against its :class:`Param` (``f`` names the place)."""
    if spec.kind in ("int", "float"):
        return _number(f, key, value, spec.lo, spec.hi, spec.kind == "int")
    if spec.kind == "enum":
        if value not in spec.options:
            raise f.fail(key, f"must be one of {', '.join(spec.options)}, got {value!r}")
        return value
    if spec.kind == "dataset":
        if value not in DATASETS:
            raise f.fail(key, f"unknown dataset {value!r}; one of: {', '.join(DATASETS)}")
        return value
    if spec.kind == "dim":
        return _dim(f, key, value, model)
    if spec.kind == "dims":
        return [_dim(f, f"{key}[{i}]", v, model) for i, v in enumerate(_list(f, key, value, 1, 4))]
    if spec.kind == "vector":
        if not isinstance(value, list) or len(value) != model.latent_dim:
            raise f.fail(key, f"must be a list of {model.latent_dim} numbers (the model's latent dimension)")
        return [_number(f, f"{key}[{i}]", v, -10.0, 10.0, False) for i, v in enumerate(value)]
    if spec.kind == "image":
        return _image(f, key, value)
    if spec.kind == "images":
        return [_image(f, f"{key}[{i}]", v) for i, v in enumerate(_list(f, key, value, 1, 4))]
    raise AssertionError(f"unknown parameter kind {spec.kind}")


def _params(f: _Fields, specs: Mapping[str, Param], table: Mapping[str, Any], model: ModelInfo,
            skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every parameter of ``specs`` from ``table`` (defaults where absent); other keys but
    ``skip`` are unknown."""
    out = {}
    for key, spec in specs.items():
        f.seen.add(key)
        out[key] = _param(f, key, spec, table[key], model) if key in table else spec.default
    for key in table:
        if key not in specs and key not in skip:
            raise f.fail(key, f"unknown parameter (allowed: {', '.join(specs) or 'none'})")
    return out


def _widget(table: Any, where: str, file: str, model: ModelInfo) -> Widget:
    f = _Fields(table, where, file)
    kind = f.get("kind", str)
    if kind not in WIDGETS:
        raise f.fail("kind", f"unknown widget {kind!r}; one of: {', '.join(WIDGETS)}")
    return Widget(kind, _params(f, WIDGETS[kind], table, model, skip=("kind",)))


def _options(f: _Fields) -> tuple[tuple[str, str], ...]:
    raw = _list(f, "options", f.get("options", list), 2, MAX_OPTIONS)
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str) and item.strip():
            out.append((item, item))
            continue
        g = _Fields(item, f"{f.where}.options[{i}]", f.file)
        out.append((g.get("value", str), g.get("label", str)))
        g.done()
    values = [v for v, _ in out]
    if len(set(values)) != len(values):
        raise f.fail("options", "two options have the same value")
    return tuple(out)


def _answer_or_check(f: _Fields, kind: str, model: ModelInfo) -> tuple[Any, str | None, dict | None]:
    """The fixed ``answer`` or the ``check`` and its ``params`` (exactly one of the two)."""
    answer = f.get("answer", (str,) if kind == "choice" else (int, float), None)
    check = f.get("check", str, None)
    params = f.get("params", dict, None)
    if (answer is None) == (check is None):
        raise f.fail("answer", "give either a fixed answer or a check (one of the two)")
    if check is None:
        if params is not None:
            raise f.fail("params", "only a check takes params")
        return answer, None, None
    spec = CHECKS.get(check)
    if spec is None:
        raise f.fail("check", f"unknown check {check!r}; one of: {', '.join(CHECKS)}")
    if spec.kind != kind:
        raise f.fail("check", f"{check!r} answers a {spec.kind} question, this is a {kind}")
    g = _Fields(params or {}, f"{f.where}.params", f.file)
    return None, check, _params(g, spec.params, params or {}, model)


def _question(table: Any, where: str, file: str, model: ModelInfo) -> Question:
    f = _Fields(table, where, file)
    kind = f.get("kind", str)
    if kind not in ("choice", "guess"):
        raise f.fail("kind", f"must be 'choice' or 'guess', got {kind!r}")
    prompt = f.get("prompt", str)
    answer, check, params = _answer_or_check(f, kind, model)
    if kind == "choice":
        options = _options(f)
        values = [v for v, _ in options]
        if answer is not None and answer not in values:
            raise f.fail("answer", f"{answer!r} is not one of the options' values")
        missing = [o for o in (CHECKS[check].outcomes if check else ()) if o not in values]
        if missing:
            raise f.fail("options", f"the check {check!r} can answer {missing[0]!r}: give an option with that value")
        q = Question(kind, prompt, options=options, answer=answer, check=check, params=params)
    else:
        lo = _number(f, "min", f.get("min", (int, float)), None, None, False)
        hi = _number(f, "max", f.get("max", (int, float)), None, None, False)
        if not lo < hi:
            raise f.fail("max", "must be larger than min")
        step = _number(f, "step", f.get("step", (int, float), (hi - lo) / 100), 1e-9, hi - lo, False)
        tol = _number(f, "tolerance", f.get("tolerance", (int, float)), 0.0, hi - lo, False)
        if answer is not None:
            answer = _number(f, "answer", answer, lo, hi, False)
        q = Question(kind, prompt, lo=lo, hi=hi, step=step, tolerance=tol, unit=f.get("unit", str, ""),
                     answer=answer, check=check, params=params)
    f.done()
    return q


def _step(table: Any, i: int, file: str, models: Mapping[str, ModelInfo], lesson_model: str) -> Step:
    where = f"steps[{i}]"
    f = _Fields(table, where, file)
    model = f.get("model", str, lesson_model)
    if model not in models:
        raise f.fail("model", f"no shipped model is called {model!r}; one of: {', '.join(sorted(models))}")
    widget = f.get("widget", dict, None)
    step = Step(title=f.get("title", str, f"Step {i + 1}"), text=f.get("text", str),
                widget=None if widget is None else _widget(widget, f"{where}.widget", file, models[model]),
                question=_question(f.get("question", dict), f"{where}.question", file, models[model]),
                explanation=f.get("explanation", str), model=model)
    f.done()
    return step


def parse(text: str, file: str, models: Mapping[str, ModelInfo], lesson_id: str | None = None) -> Lesson:
    """A lesson from the TOML ``text`` of the file named ``file``; ``models`` are the models a
    lesson may name. Raises :class:`LessonError` naming the file and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LessonError(f"{file}: not valid TOML ({exc})") from None
    f = _Fields(data, "", file)
    title, summary, model = f.get("title", str), f.get("summary", str), f.get("model", str)
    if model not in models:
        raise f.fail("model", f"no shipped model is called {model!r}; one of: {', '.join(sorted(models))}")
    raw = f.get("steps", list)
    if not 1 <= len(raw) <= MAX_STEPS:
        raise f.fail("steps", f"a lesson has 1 to {MAX_STEPS} steps, this one {len(raw)}")
    steps = tuple(_step(s, i, file, models, model) for i, s in enumerate(raw))
    f.done()
    return Lesson(lesson_id or Path(file).stem, title, summary, model, steps)


def load_all(folder: Path, models: Mapping[str, ModelInfo]) -> tuple[list[Lesson], list[str]]:
    """Every ``*.toml`` lesson in ``folder`` in file-name order, and one problem line per file
    that could not be used (the others still load)."""
    lessons, problems = [], []
    for path in sorted(Path(folder).glob("*.toml")):
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise LessonError(f"{path.name}: larger than {MAX_FILE_BYTES // 1000} kB")
            lessons.append(parse(path.read_text(encoding="utf-8"), path.name, models))
        except LessonError as exc:
            problems.append(str(exc))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path.name}: cannot be read ({type(exc).__name__})")
    return lessons, problems


def folder_stamp(folder: Path) -> tuple[tuple[str, float], ...]:
    """(file name, mtime) of every lesson file: a cache key that changes when one does."""
    return tuple((p.name, p.stat().st_mtime) for p in sorted(Path(folder).glob("*.toml")))


def reveal(question: Question, ctx: lesson_checks.Context | None) -> lesson_checks.Reveal:
    """The correct answer of ``question``: fixed, or computed by its check on ``ctx``."""
    if question.check is None:
        return lesson_checks.Reveal(question.answer, "")
    if ctx is None:
        raise ValueError("a computed answer needs the model")
    return lesson_checks.run(question.check, ctx, question.params or {})


def grade(question: Question, given: Any, correct: str | float) -> bool:
    """Whether the student's ``given`` answer matches: the same option, or a guess within the
    tolerance of the correct number."""
    if question.kind == "choice":
        return given == correct
    try:
        return abs(float(given) - float(correct)) <= question.tolerance + 1e-9
    except (TypeError, ValueError):
        return False
