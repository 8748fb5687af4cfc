"""A tampered client against the real server: widget values no browser UI would send.

No browser here: harness/wsclient.py speaks Streamlit's websocket protocol and sends reruns
with forged ``WidgetState`` values (numbers far out of range, unknown option strings, forged
component values and triggers). The server must use a value inside the widget's bounds (Streamlit
1.67 resets an out-of-range number or unknown option to the widget's default; ui/inputs.py
clamps whatever still gets through), show no exception, and keep working. pyproject.toml pins
the Streamlit release these tests were verified with.
"""
from __future__ import annotations

import math
import re
import time

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from harness.wsclient import Run, Session, component_state, component_trigger, widget_state
from ui.live import NEED_EVERY_S

SEED_MAX = 2**31 - 1


@pytest.fixture(autouse=True)
def _need_browser():
    """Overrides the e2e conftest's: these tests need the app server, not a browser."""


def _session(app_url: str, page: str, model: str = "mnist-2d") -> Session:
    session = Session(app_url, page, f"model={model}")
    _ok(session.open())
    return session


def _ok(run: Run) -> Run:
    assert run.status == ForwardMsg.FINISHED_SUCCESSFULLY, run.status
    assert not run.exceptions(), run.exceptions()
    return run


def _text(run: Run, pattern: str) -> re.Match:
    """The match of ``pattern`` in the one text (caption, markdown, alert) where it occurs."""
    found = [m for m in (re.search(pattern, t) for t in run.texts()) if m]
    assert len(found) == 1, f"{pattern!r} found {len(found)} times in {run.texts()}"
    return found[0]


def _press(session: Session, label: str, **values) -> Run:
    """Set widgets by key and press the button ``label`` in the same rerun, as a browser does
    when a value is edited and the button clicked."""
    run = session.last
    states = [widget_state(*run.widget(key), value) for key, value in values.items()]
    return _ok(session.rerun([*states, widget_state(*run.widget(label=label), True)]))


def test_morph_steps_slider_far_out_of_range(app_url):
    with _session(app_url, "morph") as s:
        run = _ok(s.set(morph_steps=3_000_000))
        steps = int(_text(run, r"^(\d+) decoded steps")[1])
        assert steps in (8, 16), steps  # the default (Streamlit 1.67 resets) or the clamp, never 3,000,000
        assert _text(run, r"^(\d+) frames: the")[1] == str(2 * steps - 2)
        live_t = run.component("morph_live_t")[0]  # the live t slider (ui/live.py's path)
        run = _ok(s.rerun([component_state(live_t, {"t": -50.0}), widget_state(*run.widget("morph_a_index"), -4)]))
        assert run.component("morph_live_t")[1]["t"] == 0.5
        assert _text(run, r"not a number between 0 and 1; t stays at 0\.50")
        run = _ok(s.rerun([component_state(live_t, {"t": 0.25}), widget_state(*run.widget("morph_steps"), 12)]))
        assert _text(run, r"^(\d+) decoded steps")[1] == "12"  # still works for honest values
        assert run.component("morph_live_t")[1]["t"] == 0.25


def test_generate_seed_grid_and_temperature_out_of_range(app_url):
    caption = r"^(\d+) samples, z ~ N\(0, ([\d.]+)² I\), seed (\d+),"
    with _session(app_url, "generate") as s:
        for seed in (2**40, -3, 1.5e300):
            m = _text(_ok(s.set(generate_seed=seed)), caption)
            assert int(m[3]) in (0, SEED_MAX), (seed, m[0])
        for grid in ("99 × 99", "8", "10", ""):  # "8": Streamlit 1.67 alone would hand the page the string "8"
            assert _text(_ok(s.set(generate_grid=grid)), caption)[1] == "64", grid
        m = _text(_ok(s.set(generate_temperature=50.0)), caption)
        assert m[2] in ("1.00", "2.00"), m[0]
        m = _text(_ok(s.set(generate_seed=5, generate_grid="6 × 6", generate_temperature=0.5)), caption)
        assert m.groups() == ("36", "0.50", "5")


def test_decode_test_image_index_and_traversal(app_url):
    started = r"^Started from encoded test image #\d+ \(.*\)\.$"
    with _session(app_url, "", "mnist-20d") as s:
        first = _text(_press(s, "Encode it", decode_index=0), started)[0]
        third = _text(_press(s, "Encode it", decode_index=3), started)[0]
        assert third != first
        assert _text(_press(s, "Encode it", decode_index=-5), started)[0] == first
        _press(s, "Random from prior", decode_seed=2**40)
        _, box = s.last.widget("decode_traverse")
        default = box.options[box.default]
        for dim in ("1", "z99", "99"):  # "1" is z1's label without the "z": Streamlit 1.67 would pass it on
            assert _text(_ok(s.set(decode_traverse=dim)), r"^(z\d+) from −3 to \+3")[1] == default, dim
        assert _text(_ok(s.set(decode_traverse="z1")), r"^(z\d+) from −3 to \+3")[1] == "z1"


def test_reconstruct_test_image_number(app_url):
    shown = r"^Input: test image #\d+ \(.*\)\.$"
    with _session(app_url, "reconstruct") as s:
        first = _text(_ok(s.set(recon_source="Try a test image")), shown)[0]
        _, box = s.last.widget("recon_index")
        last = _text(_ok(s.set(recon_index=int(box.max))), shown)[0]
        for bad in (10**9, -1, int(box.max) + 1):
            assert _text(_ok(s.set(recon_index=bad)), shown)[0] in (first, last), bad
        assert _text(_ok(s.set(recon_index=17)), shown)[0] not in (first, last)
        assert not [t for t in _ok(s.set(recon_source="Try a cat")).texts() if t.startswith("Input:")]


def test_live_sliders_clip_and_ignore_what_the_browser_sends(app_url):
    with _session(app_url, "") as s:
        sliders, _ = s.last.component("decode_live_sliders")
        run = _ok(s.rerun([component_state(sliders, {"z": [1e300, -1e300]})]))
        assert sorted(run.component("decode_live_view")[1]["z"]) == [-3.0, 3.0]
        for bad in (["1", "2"], [1.0, 2.0, 3.0], [float("nan"), 0.0], "12", None, {"a": 1}):
            run = _ok(s.rerun([component_state(sliders, {"z": bad})]))
            assert sorted(run.component("decode_live_view")[1]["z"]) == [-3.0, 3.0], bad


def test_weights_are_resent_at_most_once_per_model_when_asked_in_a_loop(app_url):
    with _session(app_url, "") as s:
        view, data = s.last.component("decode_live_view")
        assert data["decoder"] is not None  # the first visit sends the weights
        resent, start = 0, time.monotonic()
        for _ in range(4):
            run = _ok(s.rerun([component_trigger(view, "need", data["model"])]))
            resent += run.component("decode_live_view")[1]["decoder"] is not None
        allowed = 1 + int((time.monotonic() - start) // NEED_EVERY_S)  # 1, unless these runs took 30 s
        assert 1 <= resent <= allowed


def test_a_failed_message_is_cut_and_shown_as_plain_text(app_url):
    hostile = "**bold** [link](http://evil.example) <img src=x onerror=alert(1)> $x$\n:red[red]" + "y" * 5000
    with _session(app_url, "") as s:
        view, _ = s.last.component("decode_live_view")
        run = _ok(s.rerun([component_trigger(view, "failed", hostile)]))
        (body,) = [t for t in run.texts() if "your browser could not run it (" in t]
        shown = body.split("could not run it (", 1)[1].rsplit(").", 1)[0]
        assert r"\*\*bold\*\* \[link\]\(http\:\/\/evil\.example\) \<img" in shown
        assert "\n" not in shown and len(shown.replace("\\", "")) <= 300
        assert "y" * 200 in shown and "y" * 300 not in shown


def test_latent_pad_pins_stay_inside_the_pad(app_url):
    pinned = r"^pinned: z0 = (-?[\d.]+), z1 = (-?[\d.]+)$"
    with _session(app_url, "latent_map") as s:
        pad, data = s.last.component("latent_pad")
        x0, x1, y0, y1 = data["extent"]
        m = _text(_ok(s.rerun([component_trigger(pad, "pin", [1e9, -1e9])])), pinned)
        assert m.groups() == (f"{x1:.2f}", f"{y0:.2f}")
        for bad in (["a", None], [float("nan"), 0.0], [0.5], "0.5,0.5"):
            assert _text(_ok(s.rerun([component_trigger(pad, "pin", bad)])), pinned).groups() == m.groups(), bad
        m = _text(_ok(s.rerun([component_trigger(pad, "pin", [0.5, -1.25])])), pinned)
        assert m.groups() == ("0.50", "-1.25")


@pytest.mark.parametrize("page, key, forged, honest", [
    ("generate", "generate_seed", WidgetState(double_value=math.nan), {"generate_seed": 9}),  # int(NaN)
    ("generate", "generate_grid", WidgetState(int_value=3), {"generate_grid": "6 × 6"}),  # not a string
    ("", "decode_live_view", WidgetState(json_value="{not json"), {}),  # a component state that is not JSON
], ids=["nan-in-int-number-input", "int-for-selectbox", "bad-json-component-state"])
def test_values_streamlit_cannot_read_break_only_the_sending_session(app_url, page, key, forged, honest):
    """Streamlit 1.67 raises on these before (or inside) the widget call, where the page cannot
    catch it: the sender's own session shows an error. It must give nothing away (no
    traceback, no message) and leave other sessions alone."""
    with _session(app_url, page) as s:
        forged.id = s.last.widget(key)[1].id
        run = s.rerun([forged])
        for exc in run.of_type("exception"):
            assert not exc.stack_trace and not exc.type and "Error" not in exc.message, exc
        with _session(app_url, page) as other:
            _ok(other.set(**honest))
