"""Live decoding in a real browser (ui/live.py): the image follows a drag with no server round trip.

On Decode, dragging a live slider redraws the canvas while the mouse button is still down, and
no websocket message leaves the page until the release, which then updates the rest of the
page; Reset (a server-side control) moves the live sliders back. On the Latent map (mnist-2d),
dragging on the latent pad redraws the decoded image the same way, and a click pins the point:
the server decodes it beside the pad and stars it on the map.
"""
import re

from playwright.sync_api import expect

from harness.browser import open_page, wait_ready

DATA_URL = "canvas => canvas.toDataURL()"
DRAWN = "() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0"


def _count_sent(page) -> list:
    """Frames the page sends on its websockets (each a message to the Streamlit server)."""
    sent: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    return sent


def _drag(page, x0: float, y0: float, x1: float, y1: float, steps: int) -> None:
    for i in range(1, steps + 1):
        page.mouse.move(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)


def test_dragging_a_live_slider_redraws_in_the_browser_and_sends_on_release(page, app_url):
    sent = _count_sent(page)
    open_page(page, app_url, "", "model=mnist-2d")
    page.wait_for_function(DRAWN)
    canvas = page.locator('[data-testid="liveCanvas"]')
    slider = page.locator('[data-testid="liveSlider"]').nth(1)  # not the traversed dim: the strip must follow
    strip = page.locator('[data-testid="stImage"] img').first
    strip_before = strip.get_attribute("src")
    box = slider.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the thumb, at 0
    page.mouse.move(x, y)
    page.mouse.down()
    before, n_sent = canvas.evaluate(DATA_URL), len(sent)
    _drag(page, x, y, x + box["width"] * 0.3, y, 15)
    during = canvas.evaluate(DATA_URL)
    value = float(slider.input_value())
    assert during != before, "the canvas did not change during the drag"
    assert value > 0.5
    _drag(page, x + box["width"] * 0.3, y, x + box["width"] * 0.35, y, 5)
    final = canvas.evaluate(DATA_URL)
    assert len(sent) == n_sent, f"{len(sent) - n_sent} websocket message(s) sent during the drag"
    page.mouse.up()
    page.wait_for_function("() => window.__vaeLive.sent >= 1")
    for _ in range(50):
        if len(sent) > n_sent:
            break
        page.wait_for_timeout(100)
    assert len(sent) > n_sent, "the release did not reach the server"
    page.wait_for_function("src => { const im = document.querySelector('[data-testid=\"stImage\"] img');"
                           " return im && im.getAttribute('src') !== src; }", arg=strip_before)
    wait_ready(page)
    assert strip.get_attribute("src") != strip_before  # the traversal strip follows the released value
    assert canvas.evaluate(DATA_URL) == final  # the rerun did not undo the drag
    assert abs(float(slider.input_value()) - value) > 0.01
    # A server-side control moves the live slider and the image back: Reset to 0.
    page.get_by_role("button", name="Reset to 0").click()
    wait_ready(page)
    page.wait_for_function("() => [...document.querySelectorAll('*')].filter(e => e.shadowRoot)"
                           ".flatMap(e => [...e.shadowRoot.querySelectorAll('[data-testid=\"liveSlider\"]')])"
                           ".every(s => Number(s.value) === 0)")
    assert canvas.evaluate(DATA_URL) == before
    assert page.locator('[data-testid="stException"]').count() == 0


def _numbers(text: str) -> list[float]:
    return [float(v.replace("\u2212", "-")) for v in re.findall(r"[\u2212-]?\d+\.\d+", text)]


def test_dragging_on_the_latent_pad_and_pinning_a_point(page, app_url):
    sent = _count_sent(page)
    open_page(page, app_url, "latent_map", "model=mnist-2d")
    pad = page.locator('[data-testid="latentPad"]')
    image = page.locator('[data-testid="padImage"]')
    readout = page.locator('[data-testid="padReadout"]')
    pad.scroll_into_view_if_needed()
    page.wait_for_function(DRAWN)
    box = pad.bounding_box()
    x0, y0 = box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"]
    x1, y1 = box["x"] + 0.7 * box["width"], box["y"] + 0.7 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    before, at_start, n_sent = image.evaluate(DATA_URL), _numbers(readout.inner_text()), len(sent)
    _drag(page, x0, y0, x1, y1, 25)
    during, at_end = image.evaluate(DATA_URL), _numbers(readout.inner_text())
    assert during != before, "the decoded image did not change during the drag"
    assert at_end[0] > at_start[0] and at_end[1] < at_start[1]  # right and down: z0 up, z1 down
    page.mouse.up()
    page.wait_for_timeout(500)
    assert len(sent) == n_sent, "a drag on the pad must not talk to the server"
    page.mouse.click(x0, y1)  # a click pins
    page.get_by_text(re.compile(r"^pinned: z0 = ")).wait_for()
    wait_ready(page)
    assert len(sent) > n_sent
    pinned = _numbers(page.get_by_text(re.compile(r"^pinned: z0 = ")).inner_text())
    shown = _numbers(readout.inner_text())
    assert abs(pinned[0] - shown[0]) < 0.006 and abs(pinned[1] - shown[1]) < 0.006
    assert pinned[0] < at_end[0] and pinned[1] < at_start[1]
    expect(page.get_by_role("button", name="Unpin")).to_be_visible()
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')]"
                           ".some(gd => (gd.data || []).some(t => t.name === 'pinned (latent pad)'))")
    assert page.locator('[data-testid="stException"]').count() == 0
