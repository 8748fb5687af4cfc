"""A teacher's flow: start a one-epoch shapes job, watch it, leave the page and come back,
then pick the finished model in the sidebar and explore it."""
import re

from playwright.sync_api import expect

from harness.browser import open_page, wait_ready


def _select(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_ready(page)


def test_train_a_shapes_model_and_explore_it(page, app_url):
    open_page(page, app_url, "train")
    _select(page, "Dataset", "shapes")
    page.get_by_label("Epochs", exact=True).fill("1")
    page.get_by_label("Epochs", exact=True).press("Enter")
    wait_ready(page)
    page.get_by_label("Model name", exact=True).fill("e2e-shapes")
    page.get_by_label("Model name", exact=True).press("Enter")
    wait_ready(page)
    page.get_by_role("button", name="Start training").click()
    wait_ready(page)
    page.wait_for_url(re.compile(r"job=[0-9a-f]{12}"))  # the job id goes into the URL
    job_url = page.url
    page.get_by_text(re.compile(r"e2e-shapes.*job .*(running|queued|finished)")).wait_for(timeout=60_000)
    page.locator('[data-testid="stProgress"]').first.wait_for()
    page.get_by_text("reconstruction −log p(x|z), per step").first.wait_for(timeout=60_000)  # the live curve

    page.locator('[data-testid="stSidebarNav"]').get_by_text("Decode").click()  # leave ...
    wait_ready(page)
    page.goto(job_url)  # ... and come back by the job's URL (as after a reload)
    wait_ready(page)
    page.get_by_text("Saved as e2e-shapes").wait_for(timeout=120_000)
    expect(page.get_by_text("test images, their reconstructions, prior samples").first).to_be_visible()

    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    picker.click()
    page.get_by_role("option", name=re.compile(r"^e2e-shapes \(yours\)")).click()
    wait_ready(page)
    page.get_by_text("Trained on shapes").wait_for()
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Decode").click()
    wait_ready(page)
    sliders = page.locator('[data-testid="liveSlider"]')
    sliders.first.wait_for()  # the live component mounts once its decoder has arrived
    expect(sliders).to_have_count(2)  # the new 2-D model's live sliders on the Decode page
    assert page.locator('[data-testid="stException"]').count() == 0
