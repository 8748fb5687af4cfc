"""Lessons: short guided lessons over the live widgets; predict, then see the model's answer."""
from __future__ import annotations

import streamlit as st

from ui import lessons_view, urlsync, widgets

widgets.require_entrypoint()
st.header("Lessons: predict, then ask the model")
urlsync.plain_page("lessons")
widgets.explainer(r"""
Each lesson is a few steps. A step explains one idea and shows a live picture from a model;
then it asks you to **predict** what the model does (pick an answer or set a slider). **Check
my answer** asks the model itself: the answer is computed from the model now, not written in
advance, and an explanation follows. Your progress is kept while this browser tab is open;
**Restart lesson** starts a lesson again. The lessons use the shipped models whatever the
sidebar's model is.
""")

all_lessons, problems = lessons_view.load()
if problems:
    st.warning("Some lesson files could not be used:\n\n" + "\n\n".join(f"- {widgets.safe_text(p, 500)}"
                                                                       for p in problems))
if not all_lessons:
    st.info("There are no lessons here yet.")
    st.stop()

lesson = lessons_view.picker(all_lessons)
st.markdown(f"*{lesson.summary}*")
prog = lessons_view.progress(lesson)
lessons_view.progress_bar(lesson, prog)
lessons_view.step_view(lesson, prog)
