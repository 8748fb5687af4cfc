"""Compare in a real browser: both models' reconstructions and the KL bars appear; a new test
image index changes both reconstructions; no traceback."""
from playwright.sync_api import expect

from harness.browser import wait_ready
from ui.compare_view import SECOND_MODEL

INDEX = "Test image (position in the loaded set)"
# True once a Plotly chart has drawn two bar traces whose bars include ones labelled "off".
KL_BARS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
  .some(gd => (gd._fullData || []).filter(t => t.type === 'bar').length === 2
              && (gd._fullData || []).some(t => (t.text || []).includes('off'))
              && gd.querySelectorAll('.bars .point').length > 0)"""
# The src of the image whose caption is exactly the argument ('' while there is none).
SRC_OF = """caption => { for (const fig of document.querySelectorAll('[data-testid="stImage"]')) {
  const sel = '[data-testid="stImageCaption"]', cap = fig.querySelector(sel) || fig.parentElement.querySelector(sel);
  if (cap && cap.textContent.trim() === caption) { const img = fig.querySelector('img');
    return img && img.complete && img.naturalWidth > 0 ? img.src : ''; } } return ''; }"""
CHANGED = "([caption, before]) => { const s = (" + SRC_OF + ")(caption); return s !== '' && s !== before; }"


def _src(page, caption: str) -> str:
    page.wait_for_function(f"() => ({SRC_OF})({caption!r}) !== ''")
    return page.evaluate(SRC_OF, caption)


def test_compare_reconstructions_follow_the_test_image(page, app_url):
    page.goto(f"{app_url}/compare")
    wait_ready(page, timeout=120_000)  # a first visit renders every section for two models (while the server warms up)
    expect(page.get_by_role("heading", name="Compare: two models side by side")).to_be_visible()
    captions = [f"reconstructed by {name}" for name in ("mnist-2d", SECOND_MODEL)]
    for caption in captions:
        expect(page.locator('[data-testid="stImageCaption"]').filter(has_text=caption)).to_be_visible(timeout=60_000)
    before = [_src(page, caption) for caption in captions]
    page.wait_for_function(KL_BARS_DRAWN, timeout=60_000)
    expect(page.get_by_text("What differs", exact=True)).to_be_visible()

    first = page.get_by_text("Input: test image #").inner_text()
    index = page.get_by_label(INDEX, exact=True)
    index.fill("5")
    index.press("Enter")
    for caption, old in zip(captions, before):
        page.wait_for_function(CHANGED, arg=[caption, old])
    expect(page.get_by_text("Input: test image #")).not_to_have_text(first)
    assert page.locator('[data-testid="stException"]').count() == 0
