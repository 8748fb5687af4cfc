"""The app opens on the default shipped model in a real browser, with no traceback."""
from harness.browser import open_page


def test_app_opens_on_decode_page(page, app_url):
    open_page(page, app_url)
    assert page.get_by_role("heading", name="Decode: move through the latent space").is_visible()
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    assert "mnist-2d" in (picker.inner_text() + picker.locator("input").input_value())
    assert page.get_by_text("2 latent dims").is_visible()
    # The decoded image is drawn in the browser (ui/live.py); the traversal strip by the server.
    page.wait_for_function("() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0")
    assert page.locator('[data-testid="liveCanvas"]').is_visible()
    assert page.locator('[data-testid="liveSlider"]').count() == 2
    assert page.locator('[data-testid="stImage"] img').first.is_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
