"""The load client (harness/loadclient.py, bench/load.py) against a tiny Streamlit app.

The tiny app has one number input ``n``, a 20 kB markdown (big enough for Streamlit's message
cache), raises when ``n`` is 3, and shows an image. The client must count the exception element,
a failed media fetch and a server that goes away; its message cache must resolve the server's
references to the same elements a client without a cache receives in full.
"""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.forward_msg_cache import create_reference_msg, populate_hash_if_needed

from harness import loadclient
from harness.browser import start_app, stop_app
from harness.loadclient import Dropped, PageSpec, Student, check_local
from harness.wsclient import CacheMiss, MessageCache

ROOT = Path(__file__).resolve().parents[2]
BIG = "x" * 20_000
TINY_APP = f"""
import numpy as np
import streamlit as st

n = st.number_input("n", 0, 10, 0, key="n")
st.markdown("{BIG}")
if n == 3:
    raise ValueError("three")
st.image(np.full((8, 8), 20 * n, dtype=np.uint8))
"""
SPECS = {"main": PageSpec("", "n", 0, 10)}


def _start(tmp_path: Path):
    script = tmp_path / "tiny_app.py"
    script.write_text(TINY_APP)
    return start_app(script=script, timeout=60)


@pytest.fixture(scope="module")
def tiny_url(tmp_path_factory):
    proc, url = _start(tmp_path_factory.mktemp("tiny"))
    yield url
    stop_app(proc)


def _student(url: str, cache: bool = True, **kw) -> Student:
    return Student(url, SPECS, random.Random(0), timeout=30, cache=cache, **kw)


def _markdown(msg_body: str, path: int) -> ForwardMsg:
    msg = ForwardMsg()
    msg.delta.new_element.markdown.body = msg_body
    msg.metadata.delta_path.extend([0, path])
    populate_hash_if_needed(msg)  # as the server does: hash, cacheable when >= 10 kB
    return msg


def test_message_cache_keeps_resolves_and_ages_like_the_browser():
    cache, big, small = MessageCache(), _markdown(BIG, 1), _markdown("small", 2)
    assert big.metadata.cacheable and not small.metadata.cacheable
    for msg in (big, small):
        assert cache.process(msg, msg.SerializeToString()) is msg
    assert cache.hashes() == [big.hash]
    ref = create_reference_msg(big)
    ref.metadata.delta_path[:] = [0, 7]  # the element moved
    data = ref.SerializeToString()
    full = cache.process(ref, data)
    assert full.delta.new_element.markdown.body == BIG and list(full.metadata.delta_path) == [0, 7]
    assert cache.hits == 1 and cache.saved_bytes == len(big.SerializeToString()) - len(data)
    for _ in range(cache.max_age):
        cache.run_finished()
    assert cache.hashes() == [big.hash]  # used within the last max_age runs: kept
    cache.run_finished()
    assert cache.hashes() == []
    with pytest.raises(CacheMiss):
        cache.process(ref, data)


def test_only_local_targets():
    assert check_local("http://localhost:8501/") == "http://localhost:8501"
    for url in ("http://example.com:8501", "https://127.0.0.1:8501", "http://10.0.0.1"):
        with pytest.raises(ValueError, match="only http://127.0.0.1"):
            check_local(url)
    with pytest.raises(SystemExit):
        loadclient.load_bench().parse(["--url", "http://192.168.1.5:8501"])


def test_exception_element_is_counted(tiny_url):
    s = _student(tiny_url)
    try:
        assert s.visit("main").exceptions == 0
        bad = s.change(3)
        assert bad.exceptions == 1 and bad.media_files == 0
        assert s.change(4).exceptions == 0
    finally:
        s.close()


def test_media_is_fetched_and_failures_are_counted(tiny_url, monkeypatch):
    s = _student(tiny_url)
    try:
        first = s.visit("main")
        assert first.media_files == 1 and first.media_bytes > 0 and first.media_failed == 0
        s.fetch_all(["/media/no-such-file.png"], first)
        assert first.media_files == 2 and first.media_failed == 1
        monkeypatch.setattr(loadclient, "media_urls", lambda run: ["/media/bogus-" + run.page_script_hash])
        bad = s.change(5)
        assert bad.media_files == 1 and bad.media_failed == 1 and bad.media_bytes == 0
    finally:
        s.close()


def test_message_cache_gets_references_for_the_same_elements(tiny_url):
    cached, plain = _student(tiny_url), _student(tiny_url, cache=False)
    try:
        runs = {}
        for s in (cached, plain):
            s.visit("main")
            sample = s.change(2)
            runs[s] = (sample, s.session.last)
        (c_sample, c_run), (p_sample, p_run) = runs[cached], runs[plain]
        assert c_sample.refs == 1 and p_sample.refs == 0
        assert c_run.of_type("markdown")[0].body == BIG
        assert {k: v.WhichOneof("type") for k, v in c_run.elements.items()} == \
               {k: v.WhichOneof("type") for k, v in p_run.elements.items()}
        assert p_sample.ws_bytes - c_sample.ws_bytes > 15_000
    finally:
        cached.close()
        plain.close()


def test_a_server_that_goes_away_drops_the_sessions_and_the_run_ends(tmp_path):
    proc, url = _start(tmp_path)
    load = loadclient.load_bench()
    args = load.parse(["--url", url, "--sessions", "2", "--seconds", "60", "--think", "0.2", "--ramp", "0",
                       "--changes", "50", "--timeout", "10", "--after-wait", "0", "--slider-steps", "0"])
    args.specs, args.pages = SPECS, ["main"]
    tally = load.Tally()
    runner = threading.Thread(target=load.run, args=(args, None, tally))
    try:
        runner.start()
        deadline = time.monotonic() + 30
        while len(tally.samples) < 4 and time.monotonic() < deadline:  # both students are in
            time.sleep(0.1)
        assert len(tally.samples) >= 4
    finally:
        stop_app(proc)
    runner.join(45)
    assert not runner.is_alive()
    assert tally.sessions == 2 and tally.dropped == {"closed": 2}, tally.dropped


def test_closed_socket_raises_dropped(tmp_path):
    proc, url = _start(tmp_path)
    s = _student(url)
    try:
        s.visit("main")
        stop_app(proc)
        with pytest.raises(Dropped) as info:
            s.change(1)
        assert info.value.reason == "closed"
        with pytest.raises(Dropped) as info:
            _student(url).visit("main")
        assert info.value.reason == "connect"
    finally:
        stop_app(proc)
        s.close()
