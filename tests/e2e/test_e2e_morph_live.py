"""The live morph in a real browser (ui/live.py's "path" kind on the Morph page).

Dragging the t slider redraws the image at t in the browser while the mouse button is down, moves
the marker on the small latent pad (which draws the path between the two codes), and sends no
websocket message until the release; the release sends t to the server, which moves the strip's
marker there (and keeps the page in step)."""
from playwright.sync_api import expect

from harness.browser import open_page, wait_ready

DATA_URL = "canvas => canvas.toDataURL()"
DRAWN = "() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0"
CANVAS = '.st-key-morph_live_t [data-testid="liveCanvas"]'


def _count_sent(page) -> list:
    """Frames the page sends on its websockets (each a message to the Streamlit server)."""
    sent: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    return sent


def test_dragging_t_redraws_in_the_browser_and_the_server_follows_on_release(page, app_url):
    sent = _count_sent(page)
    open_page(page, app_url, "morph", "model=mnist-2d")
    slider = page.locator('[data-testid="pathSlider"]')
    canvas = page.locator(CANVAS)
    pad = page.locator('[data-testid="latentPad"]')
    marker = page.locator(".vae-strip-marker")
    expect(slider).to_have_value("0.5")
    expect(marker).to_have_attribute("data-t", "0.5000")
    expect(pad).to_have_attribute("data-path-t", "0.5")  # the pad draws the path, its ring at t
    slider.scroll_into_view_if_needed()
    page.wait_for_function(DRAWN)
    wait_ready(page)
    box = slider.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the thumb, at t = 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    before, n_sent = canvas.evaluate(DATA_URL), len(sent)
    for i in range(1, 16):
        page.mouse.move(x + box["width"] * 0.3 * i / 15, y)
    page.wait_for_function("([c, b]) => c.toDataURL() !== b", arg=[canvas.element_handle(), before])
    value = slider.input_value()
    t = float(value)
    assert t > 0.7
    expect(pad).to_have_attribute("data-path-t", value)  # the ring moved with it
    expect(page.locator('[data-testid="pathCaption"]')).to_have_text(f"decoded at t = {t:.2f}")
    assert len(sent) == n_sent, f"{len(sent) - n_sent} websocket message(s) sent during the drag"
    page.mouse.up()
    page.wait_for_function("() => window.__vaeLive.sent >= 1")
    expect(marker).to_have_attribute("data-t", f"{t:.4f}")  # the server got t: the strip's marker is there
    wait_ready(page)
    assert len(sent) > n_sent
    expect(slider).to_have_value(value)  # the rerun did not undo the drag
    assert page.locator('[data-testid="stException"]').count() == 0
