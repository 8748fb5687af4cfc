"""Two students and a teacher on one classroom-mode server, each in their own browser context.

Student A trains a model; student B neither sees it in the picker nor can stop or resume A's job
through its link; A's workspace survives a reload; the teacher signs in with the token, sees
every job and publishes A's model, which B then finds in the picker."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from harness.browser import open_page, start_app, stop_app, wait_ready

TOKEN = "a-long-classroom-secret"


@pytest.fixture(scope="module")
def classroom_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classroom")
    proc, url = start_app({"VAE_MODE": "classroom", "VAE_TEACHER_TOKEN": TOKEN, "VAE_USER_MODELS": str(tmp / "models"),
                           "VAE_JOBS_DIR": str(tmp / "jobs")})
    yield url
    stop_app(proc)


def _context_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


def _picker_options(page) -> list[str]:
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    texts = options.all_inner_texts()
    page.keyboard.press("Escape")
    return texts


def _train(page, url: str, name: str) -> str:
    open_page(page, url, "train")
    page.get_by_text("New job").wait_for()  # shown once the browser has reported its workspace
    page.get_by_label("Dataset", exact=True).click()
    page.get_by_role("option", name="shapes", exact=True).click()
    wait_ready(page)
    page.get_by_label("Epochs", exact=True).fill("1")
    page.get_by_label("Epochs", exact=True).press("Enter")
    wait_ready(page)
    page.get_by_label("Model name", exact=True).fill(name)
    page.get_by_label("Model name", exact=True).press("Enter")
    wait_ready(page)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"job=[0-9a-f]{12}"))
    page.get_by_text(f"Saved as {name}").wait_for(timeout=180_000)
    return page.url


def test_two_students_and_a_teacher(browser, classroom_url):
    ctx_a, a = _context_page(browser)
    ctx_b, b = _context_page(browser)
    ctx_t, t = _context_page(browser)
    try:
        job_url = _train(a, classroom_url, "my-shapes")

        open_page(b, classroom_url, "train")
        b.get_by_text("New job").wait_for()
        wait_ready(b)  # the run that drew the form has finished: a job list would be there by now
        expect(b.get_by_text("Your jobs")).to_have_count(0)
        assert not any("my-shapes" in o for o in _picker_options(b))
        b.goto(job_url)  # A's job through its link: a read-only view
        wait_ready(b)
        b.get_by_text("Read-only: this job belongs to another workspace.").wait_for()
        expect(b.get_by_role("button", name="Resume")).to_have_count(0)
        expect(b.get_by_role("button", name="Stop")).to_have_count(0)

        a2 = ctx_a.new_page()  # A again, in a new tab: the same workspace
        open_page(a2, classroom_url, "train")
        a2.get_by_text("Your jobs").wait_for()
        assert any(o.startswith("my-shapes (yours)") for o in _picker_options(a2))

        open_page(t, classroom_url)
        t.locator('[data-testid="stSidebar"]').get_by_text("Teacher", exact=True).click()
        t.get_by_label("Teacher token").fill(TOKEN)
        t.get_by_role("button", name="Sign in").click()
        t.get_by_text("Signed in as the teacher").wait_for()
        t.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Train").click()  # same session: signed in
        wait_ready(t)
        t.get_by_text("All jobs").wait_for()  # the teacher's list has A's job (the newest is shown)
        t.get_by_role("button", name="Publish to the class").click()
        t.get_by_text("Published as my-shapes").wait_for()

        b.goto(classroom_url)
        wait_ready(b)
        b.get_by_text("Classroom mode").wait_for()
        assert any(o.startswith("my-shapes (class)") for o in _picker_options(b))
        for p in (a, a2, b, t):
            expect(p.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        for ctx in (ctx_a, ctx_b, ctx_t):
            ctx.close()
