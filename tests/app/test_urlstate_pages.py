"""AppTest: every view is a link (services/urlstate.py, ui/urlsync.py).

Opening a page with query parameters puts them into its widgets and draws the same images as a
session that set the same values by hand (AppTest names an image by a hash of its bytes, so
equal URLs mean equal pixels); acting on the page updates ``st.query_params``; a tampered
parameter gives one short warning and the page's default, never a traceback.
"""
from __future__ import annotations

import json

import pytest
from app_helpers import APP, TIMEOUT, image_urls, shown
from live_helpers import _element, live_data, set_state, trigger
from streamlit.runtime.state.query_params import QueryParams
from streamlit.testing.v1 import AppTest
from test_latent_map import _has_caption, _select

from vae.registry import load_dataset


def _open(page: str, model: str = "mnist-2d", **params: str) -> AppTest:
    """A fresh session opening ``/page?model=...&params`` (the page runs first, as from a link)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"model": model, **params})
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _ids() -> list[int]:
    """The test set's ids (position -> id), as the app loads it."""
    return [int(i) for i in load_dataset("mnist", "test").ids]


def _copy_keys(at) -> list[str]:
    (button,) = [el for el in at.get("bidi_component") if el.proto.component_name.endswith("vae_copy_link")]
    return json.loads(button.proto.json)["keys"]


def _view_z(at) -> list[float]:
    """The z the Decode page's image and sliders are drawn at (the browser's live data)."""
    view = json.loads(_element(at, "decode_live_view").proto.json)["z"]
    assert view == json.loads(_element(at, "decode_live_sliders").proto.json)["z"]
    return view


def _warnings(at) -> str:
    return " ".join(shown(w.value) for w in at.warning)


def test_decode_link_sets_the_sliders_and_draws_that_point():
    at = _open("decode", z="1.5,-0.75")
    assert _view_z(at) == [1.5, -0.75]
    by_hand = _open("decode")
    set_state(by_hand, "decode_live_sliders", z=[1.5, -0.75])
    assert image_urls(at) == image_urls(by_hand)  # the traversal strip: the same bytes
    assert _copy_keys(at) == ["model", "z", "c"]
    set_state(at, "decode_live_sliders", z=[0.25, 2.0])  # the user moves a slider: the URL follows
    assert at.query_params["z"] == "0.25,2" and at.query_params["model"] == "mnist-2d"
    assert _view_z(at) == [0.25, 2.0], "the link must not be applied again"


def test_decode_link_of_a_conditional_model_carries_the_class():
    at = _open("decode", model="mnist-cond-2d", z="0.5,0.5", c="3")
    assert at.session_state["decode_class"] == 3 and _view_z(at) == [0.5, 0.5]
    assert at.query_params["c"] == "3"


def test_generate_link_sets_seed_temperature_and_grid():
    at = _open("generate", seed="5", temp="1.5", n="6")
    assert at.number_input(key="generate_seed").value == 5
    assert at.slider(key="generate_temperature").value == 1.5
    assert at.selectbox(key="generate_grid").value == 6
    by_hand = _open("generate")
    by_hand.number_input(key="generate_seed").set_value(5)
    by_hand.slider(key="generate_temperature").set_value(1.5)
    by_hand.selectbox(key="generate_grid").set_value(6).run()
    assert image_urls(at) == image_urls(by_hand)
    assert dict(by_hand.query_params) == {"model": "mnist-2d", "seed": "5", "temp": "1.5", "n": "6"}
    at.number_input(key="generate_seed").set_value(9).run()
    assert at.query_params["seed"] == "9" and at.number_input(key="generate_seed").value == 9


def test_morph_link_sets_both_ends_method_steps_and_t():
    ids = _ids()
    at = _open("morph", a=str(ids[5]), b=str(ids[9]), method="spherical", t="0.3", n="5")
    assert at.number_input(key="morph_a_index").value == 5 and at.number_input(key="morph_b_index").value == 9
    assert at.radio(key="morph_method").value == "spherical"
    assert at.session_state["morph_t"] == 0.3 and at.slider(key="morph_steps").value == 5
    assert live_data(at, "path")["t"] == 0.3  # the live t slider (ui/live.py's path)
    by_hand = _open("morph")
    by_hand.number_input(key="morph_a_index").set_value(5)
    by_hand.number_input(key="morph_b_index").set_value(9).run()
    by_hand.radio(key="morph_method").set_value("spherical")
    by_hand.slider(key="morph_steps").set_value(5).run()
    set_state(by_hand, "morph_live_t", t=0.3)  # a release of the live t slider
    assert image_urls(at) == image_urls(by_hand)  # start, strip, end
    assert live_data(at, "path") == {**live_data(by_hand, "path"), "decoder": live_data(at, "path")["decoder"]}
    assert by_hand.query_params["a"] == str(ids[5]) and by_hand.query_params["t"] == "0.3"
    set_state(at, "morph_live_t", t=0.8)
    assert at.query_params["t"] == "0.8" and at.query_params["method"] == "spherical"


def test_morph_link_with_an_uploaded_end_says_it_is_not_in_links():
    at = _open("morph", a="upload", b="7")
    assert at.radio(key="morph_a_source").value == "Upload"
    assert any("not in links" in shown(i.value) for i in at.info)
    assert at.query_params["a"] == "upload"


def test_latent_map_link_selects_and_pins():
    ids = _ids()
    picked = [ids[3], ids[10], ids[42]]
    at = _open("latent_map", sel=",".join(map(str, picked)), pin="0.5,-1.25")
    assert _has_caption(at, r"^3 images selected\.")
    assert any("pinned: z0 = 0.50, z1 = -1.25" in img.caption for el in at.get("image") for img in el.proto.imgs)
    assert live_data(at, "pad")["pinned"] == [0.5, -1.25]
    by_hand = _open("latent_map")
    _select(by_hand, picked)
    trigger(by_hand, "latent_pad", "pin", [0.5, -1.25])
    assert image_urls(at) == image_urls(by_hand)
    assert by_hand.query_params["sel"] == ",".join(map(str, picked)) and by_hand.query_params["pin"] == "0.5,-1.25"
    _select(at, [ids[0]])
    assert at.query_params["sel"] == str(ids[0])


def test_reconstruct_link_picks_the_test_image():
    ids = _ids()
    at = _open("reconstruct", img=str(ids[12]), seed="4")
    assert at.radio(key="recon_source").value == "Try a test image"
    assert at.number_input(key="recon_index").value == 12 and at.number_input(key="recon_seed").value == 4
    assert any(f"test image #{ids[12]}" in shown(c.value) for c in at.caption)
    at.number_input(key="recon_index").set_value(13).run()
    assert at.query_params["img"] == str(ids[13])


def test_reconstruct_upload_is_not_in_the_link_and_the_page_says_so():
    at = _open("reconstruct")  # Upload is the default source
    assert at.query_params["img"] == "upload"
    assert any("not in links" in c.value for c in at.caption)
    opened = _open("reconstruct", img="upload")
    assert opened.radio(key="recon_source").value == "Upload a file"
    assert any("not in links" in shown(i.value) for i in opened.info)


@pytest.mark.parametrize("page,params,expect", [
    ("generate", {"seed": "-4", "temp": "nan", "n": "8"}, {"seed": 0, "temp": 1.0, "n": 8}),
    ("generate", {"seed": "1" * 5000, "n": "7"}, {"seed": 0, "temp": 1.0, "n": 8}),
    ("morph", {"a": "99999999", "t": "inf", "method": "cubic"}, {"t": 0.5}),
    ("decode", {"z": ",".join(["0.5"] * 30000)}, {}),  # (Streamlit itself ignores query strings over 512 kB)
    ("latent_map", {"sel": ",".join(["1"] * 500), "pin": "x,y"}, {}),
    ("reconstruct", {"img": "ünïcödé", "seed": "🙂"}, {}),
])
def test_tampered_links_give_one_warning_and_defaults(page, params, expect):
    at = _open(page, **params)
    text = _warnings(at)
    assert text.startswith("This link could not be used in full.")
    bad = [n for n in params if not (page == "generate" and n == "n" and params[n] == "8")]
    assert all(f"“{n}”" in text for n in bad), text
    assert len(text) < 200 * len(params)
    if page == "generate":
        values = {"seed": at.number_input(key="generate_seed").value,
                  "temp": at.slider(key="generate_temperature").value, "n": at.selectbox(key="generate_grid").value}
        assert values == expect
    if page == "morph":
        assert at.session_state["morph_t"] == 0.5 and at.number_input(key="morph_a_index").value == 0
    if page == "decode":
        assert _view_z(at) == [0.0, 0.0]
    if page == "latent_map":
        assert not _has_caption(at, "selected") and live_data(at, "pad")["pinned"] is None
    # the URL now says what the page shows: the bad values are gone
    assert all(len(str(v)) < 100 for v in at.query_params.values())
    at.run()
    assert not at.warning, "the warning belongs to the link, not to every later run"


def test_a_link_to_a_model_not_listed_here_says_so():
    at = _open("generate", model="someone-elses-model", seed="3")
    assert "model is not available here" in _warnings(at)
    assert at.number_input(key="generate_seed").value == 3  # the rest of the link still applies
    assert at.query_params["model"] == "mnist-2d"


@pytest.mark.parametrize("page", ["download", "neighbours", "lessons", "diagnostics"])
def test_other_pages_put_the_model_in_the_link_and_have_the_button(page):
    at = _open(page, model="mnist-20d", seed="3", present="0")
    assert at.query_params["model"] == "mnist-20d"
    assert "seed" not in at.query_params, "another page's parameter stays out of this page's link"
    assert at.query_params["present"] == "0", "parameters that are not the link's are left alone"
    assert _copy_keys(at) == ["model"]


def test_the_url_is_written_only_when_the_view_changes(monkeypatch):
    sent: list[str] = []
    original = QueryParams._send_query_param_msg

    def spy(self):
        sent.append(str(self))
        original(self)

    monkeypatch.setattr(QueryParams, "_send_query_param_msg", spy)
    at = _open("generate", seed="5", temp="1", n="8")
    assert sent == [], "the link already says it: nothing to send"
    at.run()
    at.button(key="generate_next").click().run()  # seed 6
    assert len(sent) == 1 and at.query_params["seed"] == "6"
    at.run()
    assert len(sent) == 1
