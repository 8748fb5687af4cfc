"""Diagnostics in a real browser, on shapes: the factor heat map is drawn by Plotly, the worst
reconstructions' image loads, the five disentanglement numbers show, and no traceback."""
from playwright.sync_api import expect

from harness.browser import open_page

# True once some Plotly chart on the page has drawn a heat map with rows x columns cells.
HEATMAP_DRAWN = """([rows, cols]) => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
  .some(gd => (gd._fullData || []).some(t => t.type === 'heatmap' && t.z && t.z.length === rows
                                             && t.z[0].length === cols)
             && gd.querySelector('.hm image') !== null)"""
# True once the worst-reconstructions image has really loaded (decoded pixels, not just a tag).
IMAGE_LOADED = """() => [...document.querySelectorAll('[data-testid="stImage"] img')]
  .some(img => img.complete && img.naturalWidth > 0)"""


def test_shapes_heat_map_and_worst_reconstructions(page, app_url):
    open_page(page, app_url, "diagnostics", "model=shapes")
    expect(page.get_by_role("heading", name="Diagnostics: how well does this VAE fit its data?")).to_be_visible()
    expect(page.get_by_text("Disentanglement: latents against the known factors")).to_be_visible(timeout=60_000)
    page.wait_for_function(HEATMAP_DRAWN, arg=[7, 5])
    images = page.locator('[data-testid="stImage"] img')
    expect(images).to_have_count(1)
    page.wait_for_function(IMAGE_LOADED)
    caption = page.locator('[data-testid="stImageCaption"]')
    expect(caption).to_contain_text("Left to right: #")
    values = page.locator('[data-testid="stMetricValue"]')
    expect(values).to_have_count(5)
    assert all(0.0 <= float(v) <= 1.0 for v in values.all_inner_texts())
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(5)
    assert page.locator('[data-testid="stException"]').count() == 0
