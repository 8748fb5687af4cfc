"""Fragment reruns in the load client (harness/wsclient.py, harness/loadclient.py), as a browser.

A tiny app with a number input ``a`` outside a fragment and ``b`` inside one; each run counts
itself in ``st.session_state`` and shows the counts, so a test reads which code ran. Changing
``b`` must send the fragment's id and run only the fragment (the whole-page count stays), the
client must keep the rest of the page (``a`` is still found) and its message cache must keep the
page's big element through fragment runs, as the browser's does, so the next whole-page run gets
it as a reference.
"""
from __future__ import annotations

import random
import re

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from harness.browser import start_app, stop_app
from harness.loadclient import PageSpec, Student
from harness.wsclient import MessageCache, Session, widget_state

BIG = "y" * 20_000
FRAGMENT_APP = f"""
import numpy as np
import streamlit as st

st.session_state.setdefault("full", 0)
st.session_state.setdefault("part", 0)
st.session_state.full += 1
a = st.number_input("a", 0, 10, 0, key="a")
st.markdown("{BIG}")


@st.fragment
def part():
    st.session_state.part += 1
    b = st.number_input("b", 0, 10, 0, key="b")
    st.markdown(f"b = {{b}}")
    if b >= 5:
        st.markdown("b is big")
    st.image(np.full((8, 8), 20 * b, dtype=np.uint8))


part()
st.markdown(f"runs: page {{st.session_state.full}}, fragment {{st.session_state.part}}")
"""
SPECS = {"main": PageSpec("", "b", 0, 10), "outside": PageSpec("", "a", 0, 10)}


@pytest.fixture(scope="module")
def fragment_url(tmp_path_factory):
    script = tmp_path_factory.mktemp("fragment") / "fragment_app.py"
    script.write_text(FRAGMENT_APP)
    proc, url = start_app(script=script, timeout=60)
    yield url
    stop_app(proc)


def _runs(texts: list[str]) -> tuple[int, int]:
    """(whole-page runs, fragment runs) as the page shows them."""
    (m,) = [m for m in (re.fullmatch(r"runs: page (\d+), fragment (\d+)", t) for t in texts) if m]
    return int(m[1]), int(m[2])


def test_a_widget_in_a_fragment_reruns_only_the_fragment(fragment_url):
    with Session(fragment_url, cache=MessageCache()) as s:
        first = s.open()
        fragment = s.fragment_of("b")
        assert fragment and s.fragment_of("a") == ""
        assert _runs(first.texts()) == (1, 1)
        run = s.rerun([widget_state(*first.widget("b"), 7)], fragment)
        assert run.status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY and run.fragment_ids == (fragment,)
        assert {run.fragments[p] for p in run.received} == {fragment}  # only the fragment's deltas came
        assert _runs(run.texts()) == (1, 1)  # the line below the fragment is the old one: the page did not run
        assert "b = 7" in run.texts() and "b is big" in run.texts() and BIG in run.texts()
        assert len(run.new_of_type("imgs")) == 1
        run = s.rerun([widget_state(*run.widget("b"), 2)], fragment)
        assert "b is big" not in run.texts() and "b = 2" in run.texts()  # what the fragment dropped is gone
        assert run.widget("a")[1].id  # the rest of the page is still known
        run = s.rerun([widget_state(*run.widget("a"), 3)])  # a whole-page run
        assert run.status == ForwardMsg.FINISHED_SUCCESSFULLY and run.fragment_ids == ()
        assert _runs(run.texts()) == (2, 4) and "b = 2" in run.texts()  # b kept its value


def test_the_cache_keeps_the_page_through_fragment_runs(fragment_url):
    with Session(fragment_url, cache=MessageCache()) as s:
        s.open()
        fragment = s.fragment_of("b")
        for value in range(1, 2 + 2 * s.cache.max_age):  # more fragment runs than max_age
            s.rerun([widget_state(*s.last.widget("b"), value)], fragment)
        assert len(s.cache.entries) == 1
        run = s.rerun([widget_state(*s.last.widget("a"), 1)])
        assert run.refs == 1 and BIG in run.texts()


def test_the_cache_ages_only_the_fragments_that_ran():
    cache = MessageCache()
    cache.entries = {"page": (b"", 0, ""), "mine": (b"", 0, "f1"), "other": (b"", 0, "f2")}
    for _ in range(cache.max_age + 1):
        cache.run_finished(["f1"])
    assert sorted(cache.entries) == ["other", "page"]
    cache.run_finished()
    assert cache.entries == {}


def test_a_student_changing_a_fragment_widget_sends_its_fragment(fragment_url):
    s = Student(fragment_url, SPECS, random.Random(0), timeout=30)
    try:
        s.visit("main")
        sample = s.change(6)
        assert sample.fragment_runs == 1 and sample.requests == 1
        assert sample.media_files == 1 and sample.media_failed == 0  # the fragment's image, not the page's
        assert _runs(s.session.last.texts()) == (1, 1) and "b = 6" in s.session.last.texts()  # the page did not run
        s.page = "outside"
        whole = s.change(4)
        assert whole.fragment_runs == 0 and _runs(s.session.last.texts()) == (2, 3)
    finally:
        s.close()
