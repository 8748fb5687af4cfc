"""The Lessons page in a real browser: one lesson completed end to end.

Every step is answered and checked, each reveal awaited, the live decoder of step 2 moved to
the point the question names, and at the end the progress shows the lesson complete."""
from playwright.sync_api import expect

from harness.browser import open_page

DRAWN = "() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0"
DATA_URL = "canvas => canvas.toDataURL()"
STEPS = [  # (heading, the option to pick; None: keep the slider's guess)
    ("Step 1 of 4: Squeezing an image into a code", "2"),
    ("Step 2 of 4: Walking through the latent space", "7"),
    ("Step 3 of 4: Similar images, nearby codes", "Two images of the same digit"),
    ("Step 4 of 4: Why the codes crowd around the origin", None),
]


def _move_live_sliders(page, value: str) -> None:
    """Set every live slider of the step (a range input) and wait for the canvas to redraw."""
    page.wait_for_function(DRAWN)
    canvas = page.locator('[data-testid="liveCanvas"]')
    before = canvas.evaluate(DATA_URL)
    sliders = page.locator('[data-testid="liveSlider"]')
    expect(sliders).to_have_count(2)
    for i in range(2):
        sliders.nth(i).fill(value)
    page.wait_for_function("([c, src]) => c.toDataURL() !== src", arg=[canvas.element_handle(), before])


def test_complete_the_latent_space_lesson(page, app_url):
    open_page(page, app_url, "lessons")
    expect(page.get_by_role("heading", name="Lessons: predict, then ask the model")).to_be_visible()
    expect(page.get_by_text("Progress: 0 of 4 steps done")).to_be_visible()
    for k, (heading, option) in enumerate(STEPS, start=1):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        check = page.get_by_role("button", name="Check my answer")
        expect(check).to_be_visible()
        if k == 2:
            _move_live_sliders(page, "-1")
        if option is not None:
            page.get_by_role("radiogroup").get_by_text(option, exact=True).click()
            expect(page.get_by_role("radio", name=option)).to_be_checked()
        check.click()
        expect(page.get_by_text(f"Progress: {k} of 4 steps done")).to_be_visible()
        expect(page.get_by_text("What the model did:")).to_be_visible()
        expect(page.get_by_text("Your answer:")).to_be_visible()
        if k < len(STEPS):
            page.get_by_role("button", name="Next step").click()
    expect(page.get_by_text("Lesson complete!")).to_be_visible()
    expect(page.get_by_text("What is a latent space?: 4/4")).to_be_visible()  # the session's progress line
    assert page.locator('[data-testid="stException"]').count() == 0
