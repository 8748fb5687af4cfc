"""Presenter mode in a real browser (ui/present.py): ``?present=1`` hides the sidebar and the
Streamlit toolbar, a key runs the page's main action, Esc leaves; another browser is unchanged."""
from __future__ import annotations

from playwright.sync_api import expect

from harness.browser import open_page, wait_ready

SIDEBAR = '[data-testid="stSidebar"]'
TOOLBAR = '[data-testid="stToolbarActions"], [data-testid="stMainMenu"], [data-testid="stAppDeployButton"]'
GRID = '[data-testid="stImage"] img'


def test_presenter_mode_hides_the_sidebar_and_n_draws_the_next_seed(browser, page, app_url):
    open_page(page, app_url, "generate", "model=mnist-2d&present=1")
    expect(page.locator(SIDEBAR)).to_be_hidden()
    expect(page.locator('[data-testid="stMainMenu"]')).to_have_count(1)  # there, and hidden
    for part in page.locator(TOOLBAR).all():
        expect(part).to_be_hidden()
    expect(page.get_by_role("button", name="Exit presenter mode (Esc)")).to_be_visible()
    expect(page.locator(".vae-present-legend")).to_contain_text("n next seed")
    expect(page.get_by_role("link", name="Morph")).to_be_visible()  # the pages are in the top bar
    assert float(page.evaluate("getComputedStyle(document.documentElement).fontSize")[:-2]) > 16
    grid = page.locator(GRID)
    expect(grid).to_have_count(1)
    before = grid.get_attribute("src")
    seed = page.get_by_label("Seed", exact=True)
    expect(seed).to_have_value("0")
    page.locator("body").press("n")
    expect(seed).to_have_value("1")
    expect(grid).not_to_have_attribute("src", before)
    expect(page.get_by_text("seed 1,")).to_be_visible()
    wait_ready(page)

    # Another browser (a student's) without the flag looks as always.
    student = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = student.new_page()
        other.set_default_timeout(30_000)
        open_page(other, app_url, "generate", "model=mnist-2d")
        expect(other.locator(SIDEBAR)).to_be_visible()
        expect(other.locator('[data-testid="stMainMenu"]')).to_be_visible()
        expect(other.get_by_role("button", name="Exit presenter mode (Esc)")).to_have_count(0)
        expect(other.locator(".vae-present-legend")).to_have_count(0)
        assert other.evaluate("() => window.__vaePresentKeys === undefined")  # no key listener at all
    finally:
        student.close()

    # A reload keeps presenter mode (the flag stays in the URL); Esc leaves it.
    page.wait_for_function("() => new URLSearchParams(location.search).get('present') === '1'")
    page.reload()
    wait_ready(page)
    expect(page.get_by_role("button", name="Exit presenter mode (Esc)")).to_be_visible()
    expect(page.locator(SIDEBAR)).to_be_hidden()
    page.locator("body").press("Escape")
    expect(page.locator(SIDEBAR)).to_be_visible()
    expect(page.get_by_role("button", name="Exit presenter mode (Esc)")).to_have_count(0)
    page.wait_for_function("() => !new URLSearchParams(location.search).has('present')")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_the_sidebar_toggle_turns_presenter_mode_on_and_r_draws_a_random_z(page, app_url):
    open_page(page, app_url, "", "model=mnist-2d")
    page.wait_for_function("() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0")
    expect(page.locator(SIDEBAR)).to_be_visible()
    expect(page.locator('[data-testid="liveMini"]')).to_be_hidden()  # the phone's copy of the image
    page.locator(SIDEBAR).get_by_text("Presenter mode").click()
    expect(page.locator(SIDEBAR)).to_be_hidden()
    expect(page.locator(".vae-present-legend")).to_contain_text("r random z")
    page.wait_for_function("() => new URLSearchParams(location.search).get('present') === '1'")
    wait_ready(page)
    slider = page.locator('[data-testid="liveSlider"]').first
    expect(slider).to_have_value("0")
    seed = page.get_by_label("Seed", exact=True)
    page.locator("body").press("r")  # the next seed, then "Random from prior": the sliders move
    expect(seed).to_have_value("1")
    expect(slider).not_to_have_value("0")
    wait_ready(page)
    first = slider.input_value()
    page.locator("body").press("r")  # again: another z (seed 2), not the same one
    expect(seed).to_have_value("2")
    expect(slider).not_to_have_value(first)
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_arrow_keys_step_morph_along_the_strip(page, app_url):
    open_page(page, app_url, "morph", "model=mnist-2d&present=1")
    expect(page.locator(".vae-present-legend")).to_contain_text("next step")
    t = page.locator('[data-testid="pathSlider"]')  # the live t slider (ui/live.py's path)
    expect(t).to_have_value("0.5")
    page.locator("body").press("ArrowRight")  # 8 points in the strip: the next is t = 5/7
    expect(t).to_have_value("0.71")
    wait_ready(page)
    page.locator("body").press("ArrowLeft")
    expect(t).to_have_value("0.57")  # 4/7
    wait_ready(page)
    page.locator("body").press("ArrowLeft")
    expect(t).to_have_value("0.43")  # 3/7
    wait_ready(page)
    assert page.locator('[data-testid="stException"]').count() == 0
