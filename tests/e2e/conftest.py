"""Fixtures for the Playwright end-to-end tests (helpers live in browser.py).

Without Chromium/Playwright these tests skip, saying how to enable them; with
``VAE_REQUIRE_BROWSER=1`` (set by .ci/run) a missing browser is a failure instead.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.browser import CHROMIUM, CHROMIUM_ARGS, HOW_TO, missing, start_app, stop_app
from vae import settings


@pytest.fixture(autouse=True)
def _need_browser():
    """Skip (or, under VAE_REQUIRE_BROWSER=1, fail) when the browser stack is missing."""
    why = missing()
    if why is not None:
        if settings.require_browser():
            pytest.fail(f"VAE_REQUIRE_BROWSER is set but {why}; {HOW_TO}")
        pytest.skip(f"{why}; {HOW_TO}")


@pytest.fixture(scope="session")
def user_models_dir(tmp_path_factory) -> Path:
    """An empty user-models folder, so tests never touch the real one."""
    return tmp_path_factory.mktemp("user_models")


@pytest.fixture(scope="session")
def app_url(user_models_dir, tmp_path_factory):
    """One app server for the session, with private user-models and jobs folders."""
    jobs = tmp_path_factory.mktemp("jobs")
    proc, url = start_app({"VAE_USER_MODELS": str(user_models_dir), "VAE_JOBS_DIR": str(jobs)})
    yield url
    stop_app(proc)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


