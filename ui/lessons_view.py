"""The Lessons page's parts: the lesson picker, one step (text, live widget, question, reveal),
progress kept in the session.

Lessons are files (:mod:`services.lessons`), loaded once per folder state and shared by every
session. A step's widget reuses the explore pages' pieces (live decoding from :mod:`ui.live`,
cached renders from :mod:`ui.renders`); its model's answer comes from a named check
(:mod:`services.lesson_checks`) run once per model version and parameters
(``st.cache_data``), so a class asking the same question costs one computation.

Progress lives in ``st.session_state[PROGRESS_KEY]``: per lesson id, the step shown and the
answers given ({step: {"given": value, "correct": bool}}).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st
import torch

from services import lesson_checks, lessons, validate
from services.lessons import Lesson, Question, Step
from vae import explore
from vae.checkpoint import CheckpointError
from vae.data.base import DatasetUnavailable

from . import fig_live, inputs, live, renders, state, widgets

PROGRESS_KEY = "lessons_progress"
PICK_KEY = "lesson_pick"
REV_KEY = "lessons_rev"  # bumped by a restart: the browser's live sliders then take the server's z
RANGE = 3.0  # the decode widget's sliders: -3..3, as on the Decode page


@st.cache_resource(show_spinner=False, max_entries=4)
def _load(folder: str, stamp: tuple, models: tuple[tuple[str, int, str], ...]) -> tuple[list[Lesson], list[str]]:
    """Every lesson in ``folder`` and the problems, once per folder state (``stamp``) and
    model list; shared read-only."""
    del stamp
    known = {name: lessons.ModelInfo(dim, dataset) for name, dim, dataset in models}
    return lessons.load_all(folder, known)


def _entries() -> dict[str, Any]:
    """The models a lesson may name: shipped and published to the class (not a student's own)."""
    entries, _ = state.catalog()
    return {e.name: e for e in entries if e.origin != "yours"}


def load() -> tuple[list[Lesson], list[str]]:
    """The lessons of :data:`services.lessons.LESSONS_DIR` and one problem line per broken file."""
    folder = lessons.LESSONS_DIR
    try:
        stamp = lessons.folder_stamp(folder)
    except OSError:
        return [], ["The lessons folder cannot be read."]
    models = tuple(sorted((n, e.latent_dim, e.dataset) for n, e in _entries().items()))
    return _load(str(folder), stamp, models)


def progress(lesson: Lesson) -> dict[str, Any]:
    """This session's progress in ``lesson``: {"step": int, "answers": {int: {...}}}."""
    everything = st.session_state.setdefault(PROGRESS_KEY, {})
    prog = everything.setdefault(lesson.id, {"step": 0, "answers": {}})
    prog["answers"] = {i: a for i, a in prog["answers"].items() if i < len(lesson.steps)}
    prog["step"] = min(max(int(prog["step"]), 0), len(lesson.steps) - 1)
    return prog


def picker(all_lessons: list[Lesson]) -> Lesson:
    """The lesson selectbox (titles only: a selectbox keeps the labels it was first drawn with),
    and a line of this session's progress in every lesson."""
    by_id = {lesson.id: lesson for lesson in all_lessons}
    chosen = inputs.selectbox("Lesson", list(by_id), format_func=lambda i: by_id[i].title, key=PICK_KEY)
    done = st.session_state.get(PROGRESS_KEY, {})
    started = [f"{lesson.title}: {len(done[lesson.id]['answers'])}/{len(lesson.steps)}"
               for lesson in all_lessons if done.get(lesson.id, {}).get("answers")]
    if started:
        st.caption("Steps done in this session: " + " · ".join(started))
    return by_id[chosen]


def restart(lesson: Lesson) -> None:
    """Forget this session's answers in ``lesson`` and go back to its first step."""
    st.session_state.setdefault(PROGRESS_KEY, {})[lesson.id] = {"step": 0, "answers": {}}
    st.session_state[REV_KEY] = st.session_state.get(REV_KEY, 0) + 1  # live sliders take the start z again
    for key in [k for k in st.session_state if str(k).startswith(f"lesson_{lesson.id}_")]:
        del st.session_state[key]


def progress_bar(lesson: Lesson, prog: dict[str, Any]) -> None:
    n, answers = len(lesson.steps), prog["answers"]
    st.progress(len(answers) / n, text=f"Progress: {len(answers)} of {n} steps done")
    if len(answers) == n:
        right = sum(1 for a in answers.values() if a["correct"])
        st.success(f"Lesson complete! {right} of {n} of your answers matched the model's.", icon=":material/school:")


# ---- the step's model and its answers ------------------------------------------------------

def model_for(step: Step) -> state.Current | None:
    """The step's model, loaded (an error and None when it is gone or broken)."""
    entry = _entries().get(step.model)
    if entry is None:
        st.error(f"This step's model “{widgets.safe_text(step.model, 80)}” is not on this server.")
        return None
    try:
        return state.Current(entry, state.load_checkpoint(str(entry.path), entry.mtime))
    except CheckpointError as exc:
        st.error(f"This step's model cannot be loaded: {widgets.safe_text(exc, 300)}")
        return None


def context(path: str, mtime: float, dataset: str) -> lesson_checks.Context:
    """A check's context for the model at ``path``: cached model, datasets and encodings."""
    def encoded() -> explore.Encoded:
        enc = state.encoded(path, mtime, dataset)
        return explore.Encoded(*(torch.from_numpy(enc[k]) for k in ("mean", "logvar", "labels", "ids")))

    return lesson_checks.Context(state.load_checkpoint(path, mtime).model, dataset, state.load_data, encoded)


@st.cache_data(show_spinner="Asking the model…", max_entries=256)
def _computed(path: str, mtime: float, dataset: str, check: str, params: str) -> tuple[Any, str]:
    """A check's (answer, text) for one model version and its parameters (JSON)."""
    reveal = lesson_checks.run(check, context(path, mtime, dataset), json.loads(params))
    return reveal.answer, reveal.text


def model_answer(question: Question, cur: state.Current | None) -> tuple[Any, str] | None:
    """The question's correct answer and what the model did (Markdown); None after an error."""
    if question.check is None:
        return question.answer, ""
    if cur is None:
        return None
    try:
        return _computed(*cur.key, cur.entry.dataset, question.check, json.dumps(question.params, sort_keys=True))
    except (DatasetUnavailable, ValueError) as exc:
        st.error(f"The model's answer cannot be computed here: {widgets.safe_text(exc, 400)}")
        return None


# ---- widgets ---------------------------------------------------------------------------------

def _label(cur: state.Current, key: str) -> int | None:
    """A conditional model's class to draw (a picker), None for an unconditional one."""
    names = cur.class_names()
    return inputs.class_picker("Class to draw", names, key=f"{key}_class") if names else None


def _image(cur: state.Current, spec: dict[str, Any]) -> lesson_checks.Picked:
    return lesson_checks.pick_image(context(*cur.key, cur.entry.dataset), spec)


def _decode(cur: state.Current, params: dict[str, Any], key: str) -> None:
    """Live sliders over the model's dimensions (the most active 8) and the decoded image."""
    d = cur.entry.latent_dim
    start = params.get("z") or [0.0] * d
    held = st.session_state.setdefault(f"{key}_z", [float(v) for v in start])
    shown = explore.dims_by_activity(cur.kl_per_dim())[:8]
    label = _label(cur, key)
    live_dec = live.live_decoder(cur)
    rev = st.session_state.get(REV_KEY, 0)
    left, right = st.columns([2, 3], gap="large")
    if live_dec.ok:
        def released(values: Any) -> None:
            z = validate.latent(values, d, limit=RANGE)
            if z is not None:
                st.session_state[f"{key}_z"] = z.tolist()

        with right:
            live.sliders(live_dec, key, held, rev, fig_live.slider_dims(shown, cur.kl_per_dim()), key=f"{key}_sliders",
                         on_release=released, limit=RANGE, step=0.05)
        with left:
            live.view(live_dec, key, held, rev, key=f"{key}_view", size=224, label=label,
                      caption="decoded in your browser: it follows the sliders")
        return
    z = np.array(held, dtype=np.float32)
    with right:
        for i in shown:
            z[i] = inputs.slider(f"z{i}", -RANGE, RANGE, float(np.clip(z[i], -RANGE, RANGE)), step=0.05,
                                 key=f"{key}_s{i}")
    st.session_state[f"{key}_z"] = z.tolist()
    with left:
        widgets.show_png(renders.decoded(*cur.key, tuple(z.tolist()), 224, label), caption="decoded image")


def _traverse(cur: state.Current, params: dict[str, Any], key: str) -> None:
    """One traversal strip per listed dimension (numbers or the most / least active)."""
    label = _label(cur, key)
    ctx = context(*cur.key, cur.entry.dataset)
    z = tuple(params.get("z") or [0.0] * cur.entry.latent_dim)
    limit = float(params["limit"])
    for dim in params["dims"]:
        d = lesson_checks.resolve_dim(ctx, dim)
        word = {"most_active": " (the most used dimension)", "least_active": " (the least used dimension)"}
        strip = renders.traversal(*cur.key, z, d, limit, 9, 2, label)
        widgets.show_png(strip, caption=f"z{d}{word.get(str(dim), '')} from −{limit:g} to +{limit:g}, others fixed")


def _morph(cur: state.Current, params: dict[str, Any], key: str) -> None:
    """The two images and the linear and spherical strips between them."""
    a, b = _image(cur, params["a"]), _image(cur, params["b"])
    ends = torch.cat([a.x, b.x])
    labels = (a.label, b.label) if cur.num_classes else None
    label = a.label if cur.num_classes else None
    digest = renders.digest(ends)
    for method, name in (("linear", "linear (lerp)"), ("spherical", "spherical (slerp)")):
        out = renders.morph(*cur.key, digest, ends, method, int(params["steps"]), labels, label)
        widgets.show_png(out["strip"], caption=f"{name}: {params['steps']} steps from the first image to the second")
    left, right = st.columns(2)
    with left:
        widgets.show_png(out["start"], caption=f"first: {a.caption}")
    with right:
        widgets.show_png(out["end"], caption=f"second: {b.caption}")


def _reconstruct(cur: state.Current, params: dict[str, Any], key: str) -> None:
    """Each image above its reconstruction by the model."""
    for col, spec in zip(st.columns(len(params["images"])), params["images"]):
        img = _image(cur, spec)
        label = img.label if cur.num_classes and img.own else (0 if cur.num_classes else None)
        out = renders.reconstruction(*cur.key, renders.digest(img.x), img.x, 0, label)
        with col:
            widgets.show_png(out["input"], caption=img.caption)
            widgets.show_png(out["recon"], caption=f"reconstructed by {cur.entry.name}")


def _samples(cur: state.Current, params: dict[str, Any], key: str) -> None:
    """A grid of prior samples."""
    label = _label(cur, key)
    k, t, seed = int(params["k"]), float(params["temperature"]), int(params["seed"])
    widgets.show_png(renders.samples(*cur.key, seed, t, k, 3, label),
                     caption=f"{k * k} samples z ~ N(0, {t:g}² I), seed {seed}, decoded by {cur.entry.name}")


WIDGET_VIEWS: dict[str, Callable[[state.Current, dict[str, Any], str], None]] = {
    "decode": _decode, "traverse": _traverse, "morph": _morph, "reconstruct": _reconstruct, "samples": _samples,
}


def widget(cur: state.Current, step: Step, key: str) -> None:
    """The step's widget, in place; a clear error when its pictures cannot be drawn."""
    if step.widget is None:
        return
    try:
        with st.container(border=True):
            WIDGET_VIEWS[step.widget.kind](cur, step.widget.params, key)
    except (DatasetUnavailable, ValueError) as exc:
        st.error(f"This step's pictures cannot be drawn here: {widgets.safe_text(exc, 400)}")


# ---- question and reveal ---------------------------------------------------------------------

def _guess_slider(q: Question, key: str, disabled: bool) -> float:
    whole = all(float(v).is_integer() for v in (q.lo, q.hi, q.step))
    cast = int if whole else float
    st.session_state.setdefault(key, cast(q.lo))  # starts at the low end: the student must move it
    fmt = "%d" + q.unit.replace("%", "%%") if whole else None
    return inputs.slider(q.prompt, cast(q.lo), cast(q.hi), None, cast(q.step), key=key, disabled=disabled,
                         format=fmt, label_visibility="collapsed")


def question(q: Question, key: str, answered: dict[str, Any] | None) -> Any:
    """The question's input (locked once answered); the value chosen, or None for no choice."""
    if answered is not None:
        st.session_state[key] = answered["given"]
    st.markdown(f"**Your prediction.** {q.prompt}")
    if q.kind == "choice":
        values = [v for v, _ in q.options]
        return inputs.radio(q.prompt, values, index=None, format_func=q.label, key=key,
                            disabled=answered is not None, label_visibility="collapsed")
    return _guess_slider(q, key, answered is not None)


def reveal(step: Step, answered: dict[str, Any], found: tuple[Any, str]) -> None:
    """The student's answer against the model's, what the model did, the explanation."""
    q, (correct, text) = step.question, found
    given = q.label(answered["given"])
    if q.kind == "choice" and correct not in [v for v, _ in q.options]:
        st.warning(f"The model's answer, “{widgets.safe_text(correct, 80)}”, is none of the options.")
    elif answered["correct"]:
        st.success(f"Your answer: {given}. The model's answer: {q.label(correct)}. Right!", icon=":material/check:")
    else:
        close = f" (within {q.tolerance:g}{q.unit} counts as right)" if q.kind == "guess" else ""
        st.info(f"Your answer: {given}. The model's answer: {q.label(correct)}{close}.", icon=":material/lightbulb:")
    if text:
        st.markdown(f"**What the model did:** {text}")
    st.markdown(step.explanation)


def _check(step: Step, cur: state.Current | None, prog: dict[str, Any], i: int, given: Any) -> None:
    """"Check my answer": record the answer against the model's, then rerun to reveal it."""
    if given is None:
        st.warning("Choose an answer first, then check it.")
        return
    found = model_answer(step.question, cur)
    if found is None:
        return
    prog["answers"][i] = {"given": given, "correct": lessons.grade(step.question, given, found[0])}
    st.rerun()


def _go(prog: dict[str, Any], step: int) -> None:
    prog["step"] = step


def navigation(lesson: Lesson, prog: dict[str, Any], i: int) -> None:
    """Previous / next step and restart."""
    n = len(lesson.steps)
    c1, c2, c3 = st.columns(3)
    c1.button("Previous step", on_click=_go, args=(prog, i - 1), disabled=i == 0, key=f"lesson_{lesson.id}_prev",
              icon=":material/arrow_back:", use_container_width=True)
    c2.button("Next step", on_click=_go, args=(prog, i + 1), disabled=i + 1 >= n or i not in prog["answers"],
              key=f"lesson_{lesson.id}_next", type="primary", icon=":material/arrow_forward:",
              use_container_width=True)
    c3.button("Restart lesson", on_click=restart, args=(lesson,), key=f"lesson_{lesson.id}_restart",
              icon=":material/restart_alt:", use_container_width=True)


def step_view(lesson: Lesson, prog: dict[str, Any]) -> None:
    """The current step: text, widget, question, then the reveal once checked."""
    i = prog["step"]
    step = lesson.steps[i]
    key = f"lesson_{lesson.id}_{i}"
    st.subheader(f"Step {i + 1} of {len(lesson.steps)}: {step.title}")
    st.markdown(step.text)
    cur = model_for(step)
    if cur is not None:
        widget(cur, step, key)
    answered = prog["answers"].get(i)
    with st.container(border=True):
        given = question(step.question, f"{key}_answer", answered)
        if answered is None:
            if st.button("Check my answer", key=f"{key}_check", type="primary", icon=":material/help:"):
                _check(step, cur, prog, i, given)
        else:
            found = model_answer(step.question, cur)
            if found is not None:
                reveal(step, answered, found)
    navigation(lesson, prog, i)
