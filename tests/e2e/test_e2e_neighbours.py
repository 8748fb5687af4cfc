"""Neighbours & arithmetic in a real browser: pick a test image, its k neighbours appear; move the
strength slider, the decoded image changes."""
import re

from playwright.sync_api import expect

from harness.browser import open_page

HEADING = "Neighbours & arithmetic: what is near, and which way is “thicker”"
INDEX = "Test image (position in the loaded set, 0 to"
NEIGHBOUR = re.compile(r"^\d+\. #")  # "3. #1100 · 7 · d 0.0651"
MOVED = re.compile(r"^decoded z \+ ")


def _images(page, caption: re.Pattern):
    """The st.image elements whose caption matches ``caption``."""
    return page.locator('[data-testid="stImage"]').filter(
        has=page.locator('[data-testid="stImageCaption"]', has_text=caption))


def _slider(page, label: str):
    """The thumb of the Streamlit slider labelled ``label``."""
    return page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")


def test_pick_an_image_see_neighbours_move_the_strength(page, app_url):
    open_page(page, app_url, "neighbours")
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    neighbours = _images(page, NEIGHBOUR)
    expect(neighbours).to_have_count(8)  # the default k
    query = page.locator('[data-testid="stImage"] img').first
    query_before = query.get_attribute("src")

    index = page.locator(f'input[aria-label^="{INDEX}"]')
    index.fill("12")
    index.press("Enter")
    expect(query).not_to_have_attribute("src", query_before)
    expect(page.locator('[data-testid="stImageCaption"]').first).to_have_text(re.compile(r"^test image #\d+ \("))

    k = _slider(page, "Neighbours (k)")
    k.focus()
    for _ in range(4):
        k.press("ArrowRight")
    expect(k).to_have_value("12")
    expect(neighbours).to_have_count(12)

    moved = _images(page, MOVED).locator("img")
    expect(moved).to_have_count(1)
    before = moved.get_attribute("src")
    strength = _slider(page, "Strength s")
    strength.focus()
    for _ in range(10):
        strength.press("ArrowRight")
    expect(strength).to_have_value(re.compile(r"^2(\.0*)?$"))
    expect(moved).not_to_have_attribute("src", before)
    expect(_images(page, MOVED)).to_contain_text("decoded z + 2.0·v")
    assert page.locator('[data-testid="stException"]').count() == 0
