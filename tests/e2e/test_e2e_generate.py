"""Generate in a real browser: a new seed draws a new grid."""
from playwright.sync_api import expect

from harness.browser import open_page


def test_changing_the_seed_changes_the_grid(page, app_url):
    open_page(page, app_url, "generate")
    expect(page.get_by_role("heading", name="Generate: new images from the prior")).to_be_visible()
    grid = page.locator('[data-testid="stImage"] img')
    expect(grid).to_have_count(1)
    before = grid.get_attribute("src")
    seed = page.get_by_label("Seed", exact=True)
    seed.fill("3")
    seed.press("Enter")
    expect(grid).not_to_have_attribute("src", before)
    expect(page.get_by_text("seed 3")).to_be_visible()
    expect(page.get_by_role("button", name="Download grid as PNG")).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
