"""Morph in a real browser: change an endpoint, the strip follows; the GIF downloads."""
from pathlib import Path

from playwright.sync_api import expect

from harness.browser import open_page

INDEX = "Test image (position in the loaded set)"


def test_change_endpoint_and_download_gif(page, app_url):
    open_page(page, app_url, "morph")
    expect(page.get_by_role("heading", name="Morph: walk from one image to another")).to_be_visible()
    images = page.locator('[data-testid="stImage"] img')
    expect(images).to_have_count(3)  # start, strip, end (the image at t is the live path's canvas)
    strip_before = images.nth(1).get_attribute("src")
    start_before = images.nth(0).get_attribute("src")

    start_index = page.get_by_label(INDEX, exact=True).first
    start_index.fill("5")
    start_index.press("Enter")
    expect(images.nth(1)).not_to_have_attribute("src", strip_before)
    expect(images.nth(0)).not_to_have_attribute("src", start_before)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download morph as GIF").click()
    assert download.value.suggested_filename == "morph.gif"
    assert Path(download.value.path()).read_bytes()[:4] == b"GIF8"
    assert page.locator('[data-testid="stException"]').count() == 0


def test_bad_upload_shows_an_error(page, app_url, tmp_path):
    open_page(page, app_url, "morph")
    page.get_by_text("Upload", exact=True).nth(1).click()  # the End image's source
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    page.locator('input[type="file"]').set_input_files(str(bad))
    expect(page.locator('[data-testid="stAlertContentError"]')).to_contain_text("not an image that can be read")
    assert page.locator('[data-testid="stException"]').count() == 0
