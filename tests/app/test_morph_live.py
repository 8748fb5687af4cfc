"""AppTest: the Morph page's live path (ui/live.py, kind "path") and the small pad with the path.

AppTest cannot run the component's JavaScript: the tests read the data the browser gets (z0, z1,
method, t; the pad's path polyline) and send a released t as the browser does (setStateValue),
honest or tampered."""
import json
import math
import re

import numpy as np
import pytest
from app_helpers import image_urls, open_app
from live_helpers import live_data, set_state, trigger

from services import export

PAGE = "pages/morph.py"
KEY = "morph_live_t"


def _marker_t(at) -> float:
    """The t the strip's marker shows (ui/fig_live.strip_marker_html)."""
    (body,) = [h.proto.body for h in at.get("html") if "stripMarker" in h.proto.body]
    return float(re.search(r'data-t="([\d.]+)"', body).group(1))


def test_morph_uses_the_live_path_with_the_two_codes():
    at = open_app("mnist-2d", PAGE)
    assert not at.error
    path = live_data(at, "path")
    assert path["method"] == "linear" and path["t"] == 0.5 and path["channel"] == "morph"
    assert len(path["z0"]) == len(path["z1"]) == 2 and path["z0"] != path["z1"]
    assert not [s for s in at.slider if s.key == "morph_t"], "the server-side t slider is replaced"
    assert len(image_urls(at)) == 3  # start, strip, end: the image at t is the live canvas
    assert _marker_t(at) == 0.5
    pad = live_data(at, "pad")
    assert pad["path"]["channel"] == path["channel"] and pad["path"]["t"] == 0.5
    xs, ys = pad["path"]["x"], pad["path"]["y"]
    assert len(xs) == len(ys) == 32
    assert np.allclose([xs[0], ys[0]], path["z0"], atol=1e-4) and np.allclose([xs[-1], ys[-1]], path["z1"], atol=1e-4)
    assert pad["path"]["z0"] == path["z0"] and pad["path"]["method"] == "linear"


def test_a_released_t_moves_the_marker_and_session_state():
    at = open_app("mnist-2d", PAGE)
    before = image_urls(at)
    set_state(at, KEY, t=0.25)
    assert at.session_state["morph_t"] == 0.25
    assert _marker_t(at) == 0.25
    path = live_data(at, "path")
    assert path["t"] == 0.25 and path["rev"] == 2500
    assert live_data(at, "pad")["path"]["t"] == 0.25
    assert image_urls(at) == before  # the strip and the ends stay
    assert at.query_params["t"] == ["0.25"] or at.query_params["t"] == "0.25"
    assert not at.error


@pytest.mark.parametrize("bad", [float("nan"), 5, -0.5, "x", None, [0.5], True])
def test_a_tampered_t_is_rejected_with_a_message(bad):
    at = open_app("mnist-2d", PAGE)
    set_state(at, KEY, t=0.75)
    set_state(at, KEY, t=bad)
    assert at.session_state["morph_t"] == 0.75
    assert _marker_t(at) == 0.75 and live_data(at, "path")["t"] == 0.75
    assert any("not a number between 0 and 1" in e.value and "0.75" in e.value for e in at.error)
    set_state(at, KEY, t=0.5)  # an honest value afterwards works, and the message is gone
    assert at.session_state["morph_t"] == 0.5 and not at.error


def test_a_click_on_the_morph_pad_pins_a_point_and_junk_is_ignored():
    at = open_app("mnist-2d", PAGE)
    trigger(at, "morph_pad", "pin", [0.5, -1.25])
    assert live_data(at, "pad")["pinned"] == [0.5, -1.25]
    trigger(at, "morph_pad", "pin", ["a", float("nan")])
    assert live_data(at, "pad")["pinned"] == [0.5, -1.25] and not at.error


def test_the_pad_shows_the_projected_slerp_of_a_20d_model():
    at = open_app("mnist-20d", PAGE)
    next(r for r in at.radio if r.key == "morph_method").set_value("spherical").run()
    path, pad = live_data(at, "path"), live_data(at, "pad")
    assert path["method"] == "spherical" and len(path["z0"]) == 20
    origin, axes = np.array(pad["basis"]["origin"]), np.array(pad["basis"]["axes"])
    ends = (np.array([path["z0"], path["z1"]]) - origin) @ axes.T  # the plane coordinates of z0, z1
    xy = np.array([pad["path"]["x"], pad["path"]["y"]]).T
    assert np.allclose(xy[[0, -1]], ends, atol=1e-3)
    assert pad["path"]["method"] == "spherical"


def test_server_slider_when_the_decoder_cannot_run_in_the_browser(monkeypatch):
    monkeypatch.setattr(export, "MAX_PARAMS", 1000)
    at = open_app("mnist-2d", PAGE)
    assert not [el for el in at.get("bidi_component") if el.proto.component_name == "vae_live"
                and json.loads(el.proto.json)["kind"] in ("path", "pad")]
    at.slider(key="morph_t").set_value(0.1).run()
    assert not at.exception
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert captions[-1] == "decoded at t = 0.10" and len(captions) == 4
    assert any("decoded on the server" in c.value for c in at.caption)
    assert math.isclose(at.session_state["morph_t"], 0.1)
