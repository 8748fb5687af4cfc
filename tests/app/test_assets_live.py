"""AppTest: the live component when the asset routes are mounted (as under serve.py).

AppTest runs app.py, where the routes are not mounted and everything is inline (tests in
test_decode.py); here the flag is set in-process, as serve.py's lifespan does, so the pages
send the weights' URL instead of the weights, and the component is the small loader of the
code published in services/assets.py. tests/e2e/test_e2e_assets.py checks the real server.
"""
from __future__ import annotations

import json
import re

import pytest
from app_helpers import APP, TIMEOUT, open_app
from live_helpers import TRIGGER_PREFIX
from streamlit.testing.v1 import AppTest

from services import assets, export
from services.catalog import list_models
from ui import live

VIEW = "decode_live_view"


@pytest.fixture
def mounted():
    assets.set_mounted(True)
    yield
    assets.set_mounted(False)


def _elements(at) -> dict[str, object]:
    """The live elements by key (their ids end in -KEY)."""
    return {el.proto.id.rsplit("-", 1)[-1]: el for el in at.get("bidi_component")
            if el.proto.component_name.startswith("vae_live")}


def _data(at, key: str) -> dict:
    return json.loads(_elements(at)[key].proto.json)


def _first_visit() -> AppTest:
    """A first visit: Decode is the default page, so its first run sends the decoder."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["model"] = "mnist-2d"
    at.run()
    assert not at.exception, at.exception
    return at


def _need(at, model_id: str, key: str = VIEW):
    states = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = f"{TRIGGER_PREFIX}_{_elements(at)[key].proto.id}__events"
    w.json_trigger_value = json.dumps([{"event": "need", "value": model_id}])
    at._run(states)
    assert not at.exception, at.exception
    return at


def test_the_weights_travel_as_a_url_to_a_published_blob(mounted):
    at = _first_visit()
    decoder = _data(at, VIEW)["decoder"]
    assert set(decoder) == {"spec", "url"} and decoder["spec"]["dtype"] == "float16"
    name = decoder["url"].removeprefix(assets.PREFIX + "/")
    data, content_type = assets.get(name)
    assert content_type == assets.BINARY_TYPE and len(data) == 2 * decoder["spec"]["params"]
    at.run()
    assert _data(at, VIEW)["decoder"] is None  # once per session, as inline
    assert _need(at, _data(at, VIEW)["model"]) and _data(at, VIEW)["decoder"] == decoder


def test_the_component_is_a_loader_of_the_published_code(mounted):
    at = open_app("mnist-2d", "pages/decode.py")
    for el in _elements(at).values():
        assert el.proto.component_name == "vae_live_loader"
        assert "vaeMakeDecoder" not in el.proto.js_content and len(el.proto.js_content) < 5_000
        (url,) = re.findall(r'"(/_vae/assets/[0-9a-f]{16}\.js)"', el.proto.js_content)
        code, content_type = assets.get(url.removeprefix(assets.PREFIX + "/"))
        assert content_type == assets.JS_TYPE and code.decode() == live.MODULE_JS


def test_the_pad_gets_a_url_too(mounted):
    at = open_app("mnist-2d", "pages/latent_map.py")  # Decode ran first: the session has the decoder
    assert _data(at, "latent_pad")["decoder"] is None
    decoder = _need(at, _data(at, "latent_pad")["model"], "latent_pad") and _data(at, "latent_pad")["decoder"]
    assert set(decoder) == {"spec", "url"} and assets.has(decoder["url"].removeprefix(assets.PREFIX + "/"))


def test_a_dropped_blob_is_published_again(mounted):
    at = _first_visit()
    url = _data(at, VIEW)["decoder"]["url"]
    name = url.removeprefix(assets.PREFIX + "/")
    with assets.REGISTRY._lock:  # as if evicted by other models' weights
        del assets.REGISTRY._blobs[name]
    _need(at, _data(at, VIEW)["model"])
    assert _data(at, VIEW)["decoder"]["url"] == url and assets.has(name)


def test_warm_exports_and_publishes(mounted):
    entry = next(e for e in list_models(actor=None)[0] if e.name == "shapes")
    out = live.exported(str(entry.path), entry.mtime, export.MAX_PARAMS)
    with assets.REGISTRY._lock:
        assets.REGISTRY._blobs.pop(out["blob"], None)
    live.warm(str(entry.path), entry.mtime)
    assert assets.has(out["blob"])
