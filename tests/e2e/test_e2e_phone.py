"""A phone (390 x 844, touch): the picture and the control that changes it share the screen.

Real touch drags (Chromium's own touch input, over the DevTools protocol) on Decode's live
slider, the Latent map's pad and Reconstruct's drawing canvas. During each drag the decoded
image and the control being dragged are both inside the viewport and not covered (Decode's
live sliders keep a small copy of the image stuck to the top of the screen: live.css), the
image changes, and the touch moved the control instead of scrolling.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from harness.browser import open_page, wait_ready

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DATA_URL = "canvas => canvas.toDataURL()"
DRAWN = "() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0"
SCROLLED = "() => document.querySelector('[data-testid=stMain]').scrollTop"  # Streamlit's scrolling box
# Is the element inside the viewport, and is its centre its own (not under a header or another element)?
ON_SCREEN = """el => {
  const r = el.getBoundingClientRect();
  const inside = r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth && r.height > 0;
  let hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  while (hit && hit.shadowRoot) {
    const inner = hit.shadowRoot.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!inner || inner === hit) break;
    hit = inner;
  }
  return {inside, own: hit === el || el.contains(hit), top: r.top, bottom: r.bottom, vh: innerHeight};
}"""


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page, context.new_cdp_session(page)
    context.close()


def _touch(cdp, kind: str, x: float = 0, y: float = 0) -> None:
    points = [] if kind == "touchEnd" else [{"x": x, "y": y}]
    cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})


def _drag(cdp, points: list[tuple[float, float]]) -> None:
    """Touch down at the first point and move through the rest (the finger stays down)."""
    _touch(cdp, "touchStart", *points[0])
    for x, y in points[1:]:
        _touch(cdp, "touchMove", x, y)


def _line(x0: float, y0: float, x1: float, y1: float, n: int) -> list[tuple[float, float]]:
    return [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n + 1)]


def _both_on_screen(image, control) -> None:
    for name, el in (("image", image), ("control", control)):
        seen = el.evaluate(ON_SCREEN)
        assert seen["inside"] and seen["own"], f"the {name} is not fully in view during the drag: {seen}"


def test_decode_keeps_the_image_in_view_while_a_slider_far_down_is_dragged(phone, app_url):
    page, cdp = phone
    open_page(page, app_url, "", "model=mnist-20d")  # 20 sliders: the list is longer than the screen
    page.wait_for_function(DRAWN)
    image = page.locator('[data-testid="liveMini"]')
    sliders = page.locator('[data-testid="liveSlider"]')
    expect(sliders).to_have_count(20)
    slider = sliders.nth(12)
    slider.scroll_into_view_if_needed()
    expect(image).to_be_visible()
    assert slider.evaluate("s => getComputedStyle(s).touchAction") == "pan-y"  # vertical drags scroll
    box = slider.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the thumb, at 0
    page.wait_for_function("c => c.width === c.height", arg=image.element_handle())  # a copy, not the 300x150 blank
    before, scrolled = image.evaluate(DATA_URL), page.evaluate(SCROLLED)
    _drag(cdp, _line(x, y, x + box["width"] * 0.35, y, 12))
    page.wait_for_function("([c, b]) => c.toDataURL() !== b", arg=[image.element_handle(), before])
    _both_on_screen(image, slider)
    big = page.locator('.st-key-decode_live_view [data-testid="liveCanvas"]')
    assert not big.evaluate(ON_SCREEN)["inside"]  # the page's own image is far above: the copy is what shows
    assert float(slider.input_value()) > 0.5, "the touch drag did not move the slider"
    assert page.evaluate(SCROLLED) == scrolled, "the touch drag scrolled the page"
    _touch(cdp, "touchEnd")
    page.wait_for_function("() => window.__vaeLive.sent >= 1")  # the release reaches the server
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_the_latent_pad_and_its_image_share_the_screen(phone, app_url):
    page, cdp = phone
    open_page(page, app_url, "latent_map", "model=mnist-2d")
    pad = page.locator('[data-testid="latentPad"]')
    image = page.locator('[data-testid="padImage"]')
    readout = page.locator('[data-testid="padReadout"]')
    pad.scroll_into_view_if_needed()
    page.wait_for_function(DRAWN)
    assert pad.evaluate("p => getComputedStyle(p).touchAction") == "none"
    box = pad.bounding_box()
    assert box["width"] < 390 * 0.7, "the pad leaves no room for its image beside it"
    before, text = image.evaluate(DATA_URL), readout.inner_text()
    _drag(cdp, _line(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"],
                     box["x"] + 0.7 * box["width"], box["y"] + 0.7 * box["height"], 15))
    page.wait_for_function("([c, b]) => c.toDataURL() !== b", arg=[image.element_handle(), before])
    _both_on_screen(image, pad)
    expect(readout).not_to_have_text(text)
    _touch(cdp, "touchEnd")
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_morph_t_slider_and_its_image_share_the_screen(phone, app_url):
    page, cdp = phone
    open_page(page, app_url, "morph", "model=mnist-2d")
    slider = page.locator('[data-testid="pathSlider"]')  # the live t slider (ui/live.py's path)
    image = page.locator('.st-key-morph_live_t [data-testid="liveCanvas"]')
    expect(slider).to_have_value("0.5")
    slider.scroll_into_view_if_needed()
    page.wait_for_function(DRAWN)
    assert slider.evaluate("s => getComputedStyle(s).touchAction") == "pan-y"
    before, box = image.evaluate(DATA_URL), slider.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the thumb, at 0.5
    _drag(cdp, _line(x, y, x + box["width"] * 0.3, y, 10))
    page.wait_for_function("([c, b]) => c.toDataURL() !== b", arg=[image.element_handle(), before])
    _both_on_screen(image, slider)
    assert float(slider.input_value()) > 0.6, "the touch drag did not move t"
    _touch(cdp, "touchEnd")
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_touch_stroke_on_the_drawing_canvas_changes_the_reconstruction_in_view(phone, app_url):
    page, cdp = phone
    open_page(page, app_url, "reconstruct", "model=mnist-2d")
    page.locator('[data-testid="stRadio"]').get_by_text("Draw", exact=True).click()
    canvas = page.locator('[data-testid="drawCanvas"]')
    recon = page.locator('[data-testid="drawRecon"]')
    expect(canvas).to_be_visible()
    expect(page.locator('[data-testid="drawStatus"]')).to_contain_text("follows your strokes")
    wait_ready(page)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    before = recon.evaluate(DATA_URL)
    points = _line(box["x"] + 0.35 * box["width"], box["y"] + 0.2 * box["height"],
                   box["x"] + 0.65 * box["width"], box["y"] + 0.2 * box["height"], 8)
    points += _line(*points[-1], box["x"] + 0.45 * box["width"], box["y"] + 0.85 * box["height"], 12)[1:]
    _drag(cdp, points)
    page.wait_for_function("([c, b]) => c.toDataURL() !== b", arg=[recon.element_handle(), before])
    _both_on_screen(recon, canvas)
    _touch(cdp, "touchEnd")
    # On release the server reconstructs the drawing too.
    caption = page.locator('[data-testid="stImageCaption"]').filter(has_text="reconstruction")
    expect(caption).to_be_visible(timeout=60_000)
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0
