"""Under ``streamlit run serve.py`` the static parts of live decoding travel over HTTP, not the websocket.

The component's code and a decoder's weights are served by name from services/assets.py at
``/_vae/assets/...`` (content-hashed, cacheable for a year); the component data carries only the
weights' URL and the component only a small loader. In a real browser both come over HTTP on a
first visit and from the browser's cache after a reload; when either download fails, the page
falls back to decoding on the server. Unknown or crafted asset paths never serve anything.
A plain ``streamlit run app.py`` (no routes) still decodes live, from inline code and weights.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import re
import urllib.parse
import urllib.request

import pytest
from playwright.sync_api import expect

from harness.browser import open_page, start_app, stop_app, wait_ready
from harness.wsclient import Session, component_trigger

DRAWN = "() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0"
ASSET_ENTRIES = ("() => performance.getEntriesByType('resource').filter(e => e.name.includes('/_vae/assets/'))"
                 ".map(e => ({name: e.name, type: e.initiatorType, transferSize: e.transferSize,"
                 " bodySize: e.decodedBodySize}))")
MODULE_URL = re.compile(r'"(/_vae/assets/[0-9a-f]{16}\.js)"')
IMMUTABLE = "public, max-age=31536000, immutable"
SMALL = 100_000  # bytes: far below the weights (mnist-2d: 1 MB as float16, 1.4 MB as base64)


def _get(app_url: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` exactly as written (no normalisation of dots or escapes)."""
    host, port = urllib.parse.urlsplit(app_url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_a_first_decode_visit_sends_urls_over_the_websocket_and_the_blobs_over_http(app_url):
    with Session(app_url, "", "model=mnist-2d") as s:
        run = s.open()
        view, data = run.component("decode_live_view")
        sliders, _ = run.component("decode_live_sliders")
    assert run.bytes < SMALL, f"the first Decode visit put {run.bytes:,} bytes on the websocket"
    assert len(view.json) < SMALL and len(sliders.json) < SMALL
    assert set(data["decoder"]) == {"spec", "url"}
    spec = data["decoder"]["spec"]
    assert spec["dtype"] == "float16"
    status, headers, body = _get(app_url, data["decoder"]["url"])
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    assert headers["cache-control"] == IMMUTABLE and len(body) == 2 * spec["params"]
    assert data["decoder"]["url"].endswith(f"/{hashlib.sha256(body).hexdigest()[:16]}.bin")
    for element in (view, sliders):  # a small loader, not the component's code
        assert len(element.js_content) < 5_000 and "vaeMakeDecoder" not in element.js_content
    (module_url,) = MODULE_URL.findall(view.js_content)
    status, headers, code = _get(app_url, module_url)
    assert status == 200 and headers["content-type"].startswith("application/javascript")
    assert headers["cache-control"] == IMMUTABLE
    assert b"function vaeMakeDecoder" in code and b"export default function" in code


@pytest.mark.parametrize("path", ["/_vae/assets/0123456789abcdef.bin", "/_vae/assets/0123456789abcdef.js",
                                  "/_vae/assets/serve.py", "/_vae/assets/..%2Fserve.py", "/_vae/assets/../serve.py",
                                  "/_vae/assets/%2e%2e%2f%2e%2e%2fserve.py", "/_vae/assets//etc/passwd",
                                  "/_vae/assets/..%5Cserve.py", "/_vae/assets/%2Fetc%2Fpasswd"])
def test_unknown_or_crafted_asset_paths_serve_nothing(app_url, path):
    status, headers, body = _get(app_url, path)
    assert status != 200 or headers.get("content-type", "").startswith("text/html")  # at most Streamlit's page
    assert b"st.App(" not in body and b"root:" not in body
    assert "immutable" not in headers.get("cache-control", "")
    if re.fullmatch(r"/_vae/assets/[\w.]+", path):
        assert status == 404


def _asset_entries(page) -> list[dict]:
    """The page's resource timing entries for /_vae/assets/ URLs, once both (code and weights) are there."""
    page.wait_for_function(f"() => ({ASSET_ENTRIES})().length >= 2")
    entries = page.evaluate(ASSET_ENTRIES)
    assert sorted(e["type"] for e in entries) == ["fetch", "script"], entries
    return entries


def test_the_browser_gets_code_and_weights_over_http_once_then_from_its_cache(page, app_url):
    received: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(len(payload))))
    page.add_init_script("performance.setResourceTimingBufferSize(100000)")
    open_page(page, app_url, "", "model=mnist-2d")
    page.wait_for_function(DRAWN)
    first = _asset_entries(page)
    for e in first:
        assert re.search(r"/_vae/assets/[0-9a-f]{16}\.(js|bin)$", e["name"]), e
        assert e["transferSize"] > 0, f"{e['name']} did not come over the network on a first visit"
    weights = next(e for e in first if e["type"] == "fetch")
    assert weights["name"].endswith(".bin") and weights["bodySize"] > 500_000
    wait_ready(page)
    assert sum(received) < 4 * SMALL, f"the websocket brought {sum(received):,} bytes"
    page.reload()
    wait_ready(page)
    page.wait_for_function(DRAWN)
    again = _asset_entries(page)
    assert {e["name"] for e in again} == {e["name"] for e in first}
    assert [e["transferSize"] for e in again] == [0, 0], f"not served from the browser's cache: {again}"
    assert page.locator('[data-testid="stException"]').count() == 0


@pytest.mark.parametrize("blocked, why", [
    ("**/_vae/assets/*.bin", "could not download the decoder"),
    ("**/_vae/assets/*.js", "could not load the live component"),
])
def test_when_a_download_fails_the_page_decodes_on_the_server(page, app_url, blocked, why):
    page.route(blocked, lambda route: route.abort())
    open_page(page, app_url, "", "model=mnist-2d")
    notice = page.get_by_text("Live decoding is off for this model: your browser could not run it")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(why)
    expect(page.get_by_text("decoded image", exact=True)).to_be_visible()  # the caption of the server's image
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_the_weights_url_is_resent_when_the_browser_asks(app_url):
    """The "need" protocol (and its throttle) also holds for URLs: a resent decoder is a URL again."""
    with Session(app_url, "", "model=mnist-2d") as s:
        view, data = s.open().component("decode_live_view")
        run = s.rerun([component_trigger(view, "need", data["model"])])
        resent = run.component("decode_live_view")[1]["decoder"]
        assert resent == data["decoder"] and json.dumps(resent).count("/_vae/assets/") == 1
        with urllib.request.urlopen(app_url + resent["url"], timeout=30) as r:
            assert r.status == 200


@pytest.fixture(scope="module")
def plain_app_url(user_models_dir, tmp_path_factory):
    """``streamlit run app.py``: no asset routes, so everything travels inline."""
    proc, url = start_app({"VAE_USER_MODELS": str(user_models_dir),
                           "VAE_JOBS_DIR": str(tmp_path_factory.mktemp("plain_jobs"))}, script="app.py")
    yield url
    stop_app(proc)


def test_without_the_routes_code_and_weights_travel_inline_and_still_decode(page, plain_app_url):
    with Session(plain_app_url, "", "model=mnist-2d") as s:
        view, data = s.open().component("decode_live_view")
    assert set(data["decoder"]) == {"spec", "weights"} and data["decoder"]["spec"]["dtype"] == "float16"
    assert "function vaeMakeDecoder" in view.js_content
    page.add_init_script("performance.setResourceTimingBufferSize(100000)")
    open_page(page, plain_app_url, "", "model=mnist-2d")
    page.wait_for_function(DRAWN)  # float16 weights from base64, decoded in the browser
    expect(page.locator('[data-testid="liveCanvas"]')).to_be_visible()
    assert page.evaluate(ASSET_ENTRIES) == []
    assert page.get_by_text("Live decoding is off").count() == 0
