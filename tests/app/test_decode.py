"""AppTest: the Decode page, driven as a user would.

The sliders and the image are live (ui/live.py): the browser decodes while a slider is
dragged and sends z on release. AppTest cannot drag, so a release is sent as the browser
sends it, and what the browser would draw is read from the component's data (z and the
decoder's weights); tests/e2e/test_e2e_live.py drags in a real browser.
"""
import numpy as np
from app_helpers import APP, TIMEOUT, image_urls, open_app
from live_helpers import live_data, live_elements, set_state, trigger
from streamlit.testing.v1 import AppTest

from services import export

SLIDERS, VIEW = "decode_live_sliders", "decode_live_view"


def _app(model="mnist-2d"):
    return open_app(model, "pages/decode.py")


def _z(at) -> list[float]:
    z = live_data(at, "view")["z"]
    assert live_data(at, "sliders")["z"] == z, "the sliders and the image show different points"
    return z


def test_decode_page_shows_live_sliders_and_image():
    at = _app()
    assert at.header[0].value.startswith("Decode")
    dims = live_data(at, "sliders")["dims"]
    assert len(dims) == 2 and {d["label"] for d in dims} == {"z0", "z1"}
    assert all(d["note"].startswith("KL ") for d in dims)
    assert _z(at) == [0.0, 0.0]
    js = live_elements(at)[0].proto.js_content  # the decoder's forward pass is inlined into the component
    assert "function vaeMakeDecoder" in js and "export default function" in js
    assert len(at.slider) == 0 and not at.info  # no server-side fallback
    assert image_urls(at), "no traversal strip shown"


def test_weights_are_sent_once_and_again_when_the_browser_asks():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)  # a first visit: Decode is the default page
    at.query_params["model"] = "mnist-2d"
    at.run()
    first = live_data(at, "view")
    assert first["decoder"]["spec"]["latent_dim"] == 2 and first["decoder"]["spec"]["image_shape"] == [1, 28, 28]
    assert len(first["decoder"]["weights"]) > 1000
    at.run()
    again = live_data(at, "view")
    assert again["decoder"] is None and again["model"] == first["model"]
    trigger(at, VIEW, "need", first["model"])
    assert live_data(at, "view")["decoder"] == first["decoder"]


def test_releasing_a_slider_moves_the_point_and_the_strip():
    at = _app()
    dims = [d["dim"] for d in live_data(at, "sliders")["dims"]]
    rev = live_data(at, "view")["rev"]
    before = image_urls(at)
    z = [0.0, 0.0]
    z[dims[1]] = 2.5  # the strip sweeps dims[0], so moving dims[1] must change it
    set_state(at, SLIDERS, z=z)
    assert _z(at) == z
    assert live_data(at, "view")["rev"] == rev  # the browser already has this z: no re-send
    assert image_urls(at) != before
    set_state(at, SLIDERS, z=[9.0, -9.0])  # out of range: clipped like a slider
    assert _z(at) == [3.0, -3.0]
    set_state(at, SLIDERS, z=[1.0])  # malformed: ignored
    assert _z(at) == [3.0, -3.0]


def test_random_and_reset_buttons():
    at = _app("mnist-20d")
    assert len(live_data(at, "sliders")["dims"]) == 20
    rev = live_data(at, "view")["rev"]
    next(b for b in at.button if b.label == "Random from prior").click().run()
    values = _z(at)
    assert any(abs(v) > 0.05 for v in values)
    assert live_data(at, "view")["rev"] > rev  # the browser takes the server's new z
    next(b for b in at.button if b.label == "Reset to 0").click().run()
    assert all(v == 0.0 for v in _z(at))


def test_encode_a_dataset_image_sets_the_sliders():
    at = _app()
    at.number_input(key="decode_index").set_value(3)
    next(b for b in at.button if b.label == "Encode it").click().run()
    assert not at.exception
    assert any(abs(v) > 0.05 for v in _z(at))
    assert any("Started from encoded test image" in c.value for c in at.caption)


def test_server_side_decoding_when_the_decoder_cannot_run_in_the_browser(monkeypatch):
    monkeypatch.setattr(export, "MAX_PARAMS", 1000)
    at = _app()
    assert not live_elements(at)
    assert any("Live decoding is off for this model" in i.value and "parameters" in i.value for i in at.info)
    assert len(at.slider) == 2
    before = image_urls(at)[0]
    at.slider[0].set_value(2.5).run()
    assert not at.exception
    assert image_urls(at)[0] != before
    next(b for b in at.button if b.label == "Reset to 0").click().run()
    assert all(s.value == 0.0 for s in at.slider)


def test_a_browser_error_switches_to_server_side_decoding():
    at = _app()
    dims = [d["dim"] for d in live_data(at, "sliders")["dims"]]
    z = [0.0, 0.0]
    z[dims[0]] = -1.5
    set_state(at, SLIDERS, z=z)
    trigger(at, VIEW, "failed", "no 2d canvas")
    assert any("your browser could not run it (no 2d canvas)" in i.value for i in at.info)
    assert not live_elements(at)
    assert np.allclose(sorted(s.value for s in at.slider), sorted(z))  # the sliders keep the point
