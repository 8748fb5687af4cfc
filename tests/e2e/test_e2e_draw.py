"""Draw a digit in a real browser (ui/draw.py): the reconstruction follows the strokes, computed in
the page with no websocket message until the pen is lifted; then the server's reconstruction and
scores appear. The browser's code for the released pixels is PyTorch's to 1e-4. A touch drag at
a phone's viewport draws too (pointer events with pointerType "touch", and Chromium's own touch
input, which must not scroll the page: touch-action: none)."""
from __future__ import annotations

import base64

import numpy as np
import torch
from playwright.sync_api import expect

from harness.browser import open_page, wait_ready
from services.catalog import SHIPPED_DIR
from vae.checkpoint import load

DATA_URL = "canvas => canvas.toDataURL()"
CHANGED = "([canvas, before]) => canvas.toDataURL() !== before"
LIVE = "follows your strokes"
CENTRED = "c => Math.abs(c.getBoundingClientRect().top + c.offsetHeight / 2 - innerHeight / 2) < 40"
STROKE = [(0.35, 0.2), (0.65, 0.2), (0.45, 0.85)]  # a "7", as fractions of the canvas


def _count_sent(page) -> list:
    """Frames the page sends on its websockets (each a message to the Streamlit server)."""
    sent: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    return sent


def _choose_draw(page, app_url: str, model: str = "mnist-2d"):
    open_page(page, app_url, "reconstruct", f"model={model}")
    page.locator('[data-testid="stRadio"]').get_by_text("Draw", exact=True).click()
    canvas = page.locator('[data-testid="drawCanvas"]')
    expect(canvas).to_be_visible(timeout=60_000)
    expect(page.locator('[data-testid="drawStatus"]')).to_contain_text(LIVE, timeout=60_000)
    wait_ready(page)
    return canvas


def _points(box: dict, n: int) -> list[tuple[float, float]]:
    """``n`` points along STROKE inside ``box``."""
    out = []
    for (fx0, fy0), (fx1, fy1) in zip(STROKE, STROKE[1:]):
        for i in range(n):
            t = i / n
            out.append((box["x"] + box["width"] * (fx0 + (fx1 - fx0) * t),
                        box["y"] + box["height"] * (fy0 + (fy1 - fy0) * t)))
    return out


def _server_result(page) -> None:
    expect(page.get_by_text("Anomaly score (percentile)")).to_be_visible(timeout=60_000)
    expect(page.locator('[data-testid="stImageCaption"]').filter(has_text="reconstruction")).to_be_visible()
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_drawing_reconstructs_in_the_browser_then_on_the_server(page, app_url):
    sent = _count_sent(page)
    canvas = _choose_draw(page, app_url)
    recon = page.locator('[data-testid="drawRecon"]')
    where = page.locator('[data-testid="drawWhere"]')
    points = _points(canvas.bounding_box(), 12)
    page.mouse.move(*points[0])
    page.mouse.down()
    n_sent = len(sent)
    first = recon.evaluate(DATA_URL)  # the reconstruction of the first dot
    for x, y in points[1:12]:
        page.mouse.move(x, y)
    page.wait_for_function(CHANGED, arg=[recon.element_handle(), first])  # it follows the stroke
    middle = recon.evaluate(DATA_URL)
    expect(where).to_contain_text("z0 = ")
    for x, y in points[12:]:
        page.mouse.move(x, y)
    page.wait_for_function(CHANGED, arg=[recon.element_handle(), middle])
    page.wait_for_function("() => window.__vaeDraw.frames >= 3")
    assert len(sent) == n_sent, f"{len(sent) - n_sent} websocket message(s) sent during the stroke"
    page.mouse.up()
    _server_result(page)
    assert len(sent) > n_sent, "the release did not reach the server"
    expect(page.get_by_text("Input: your drawing.")).to_be_visible()
    steps = page.locator('[data-testid="drawSteps"] figcaption').all_inner_texts()
    assert steps == ["uploaded", "grayscale", "cropped to content", "fit into 20x20", "centred by mass in 28x28"]
    # The browser's posterior mean for the pixels it sent is PyTorch's for the same pixels.
    last = page.evaluate("() => window.__vaeDraw.last")
    pixels = np.frombuffer(base64.b64decode(last["value"]["pixels"]), dtype=np.uint8).reshape(1, 1, 28, 28)
    with torch.no_grad():
        mean = load(SHIPPED_DIR / "mnist-2d").model.encode(torch.from_numpy(pixels.copy()).float() / 255.0).mean[0]
    assert np.abs(np.array(last["mean"]) - mean.numpy()).max() < 1e-4
    # Clear: the canvas and the server's result go.
    page.locator('[data-testid="drawClear"]').click()
    expect(page.get_by_text("Anomaly score (percentile)")).to_have_count(0)
    expect(page.get_by_text("Draw a digit on the canvas")).to_be_visible()


def test_a_touch_drag_draws_at_a_phone_viewport(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        canvas = _choose_draw(page, app_url)
        assert canvas.evaluate("c => getComputedStyle(c).touchAction") == "none"
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # it fits the phone's width
        recon = page.locator('[data-testid="drawRecon"]')
        before = recon.evaluate(DATA_URL)
        init = {"pointerId": 7, "pointerType": "touch", "isPrimary": True, "bubbles": True, "cancelable": True}
        points = _points(box, 8)
        canvas.dispatch_event("pointerdown", {**init, "clientX": points[0][0], "clientY": points[0][1], "buttons": 1})
        for x, y in points[1:]:
            canvas.dispatch_event("pointermove", {**init, "clientX": x, "clientY": y, "buttons": 1})
        page.wait_for_function(CHANGED, arg=[recon.element_handle(), before])
        canvas.dispatch_event("pointerup", {**init, "clientX": points[-1][0], "clientY": points[-1][1], "buttons": 0})
        _server_result(page)
        # A real touch drag (Chromium's own touch input) draws and does not scroll the page.
        page.locator('[data-testid="drawClear"]').click()
        expect(page.get_by_text("Anomaly score (percentile)")).to_have_count(0)
        wait_ready(page)
        canvas.evaluate("c => c.scrollIntoView({block: 'center'})")  # room to scroll both ways
        page.wait_for_function(CENTRED, arg=canvas.element_handle())
        box = canvas.bounding_box()
        page.evaluate("() => window.__vaeDraw.reset()")
        cdp = context.new_cdp_session(page)
        points = _points(box, 8)
        for kind, (x, y) in [("touchStart", points[0]), *(("touchMove", p) for p in points[1:])]:
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        _server_result(page)
        assert canvas.bounding_box()["y"] == box["y"], "the touch drag scrolled the page"
        assert page.evaluate("() => window.__vaeDraw.moves") == len(points), "the stroke was cut short"
    finally:
        context.close()
