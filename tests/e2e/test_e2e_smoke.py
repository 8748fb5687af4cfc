"""The app opens on the default shipped model in a real browser, with no traceback."""
from playwright.sync_api import expect

from harness.browser import open_page


def test_app_opens_on_decode_page(page, app_url):
    open_page(page, app_url)
    expect(page.get_by_role("heading", name="Decode: move through the latent space")).to_be_visible()
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    assert "mnist-2d" in (picker.inner_text() + picker.locator("input").input_value())
    expect(page.get_by_text("2 latent dims")).to_be_visible()
    # The decoded image is drawn in the browser (ui/live.py); the traversal strip by the server.
    page.wait_for_function("() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0")
    expect(page.locator('[data-testid="liveCanvas"]')).to_be_visible()
    expect(page.locator('[data-testid="liveSlider"]')).to_have_count(2)
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
