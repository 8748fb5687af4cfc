"""Two app replicas behind nginx (deploy/run_local.sh), two students on different replicas: one
trains a one-epoch shapes model through replica A, the other watches the same job to its end
through replica B (its curves, its preview images, "Saved as ..."), and every response of the
app's own paths loads through the balancer. Needs nginx and Chromium (skipped without them,
failed under VAE_REQUIRE_BROWSER, as in CI)."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from harness import deploy
from harness.browser import open_page, wait_ready
from vae import settings

# Opened at /train, Streamlit's frontend first looks for a server under /train/ (its base-path
# probe) and gets 404 from the server itself, with or without a balancer; not a failure.
BASE_PATH_PROBE = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")
MEDIA_LOADED = """() => {
  const imgs = [...document.querySelectorAll('img')].filter(i => i.src.includes('/media/'));
  return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""


@pytest.fixture(scope="module")
def two_replicas(tmp_path_factory):
    why = deploy.missing()
    if why is not None:
        if settings.require_browser():
            pytest.fail(f"VAE_REQUIRE_BROWSER is set but {why}; {deploy.HOW_TO}")
        pytest.skip(f"{why}; {deploy.HOW_TO}")
    root = tmp_path_factory.mktemp("replicas")
    d = deploy.start(2, {"VAE_USER_MODELS": str(root / "models"), "VAE_JOBS_DIR": str(root / "jobs")})
    yield d
    d.stop()


def _student(browser, d: deploy.Deployment, cookie: str, seen: dict):
    """A browser context pinned to one replica by its sticky cookie; records each response's replica
    and every failed one (status >= 400) of the deployment's URL."""
    context = browser.new_context()
    context.add_cookies([{"name": deploy.COOKIE, "value": cookie, "url": d.url}])

    def on_response(response):
        if response.url.startswith(d.url):
            seen.setdefault("replicas", set()).add(response.headers.get(deploy.REPLICA_HEADER.lower()))
            if response.status >= 400 and not BASE_PATH_PROBE.match(urlsplit(response.url).path):
                seen.setdefault("failed", []).append(f"{response.status} {response.url}")

    context.on("response", on_response)
    return context, context.new_page()


def _select(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_ready(page)


def _fill(page, label: str, value: str) -> None:
    page.get_by_label(label, exact=True).fill(value)
    page.get_by_label(label, exact=True).press("Enter")
    wait_ready(page)


def test_a_job_started_through_one_replica_is_watched_to_its_end_through_the_other(browser, two_replicas):
    d = two_replicas
    cookie_a, cookie_b = deploy.sticky_cookies(d.url, 2)
    seen_a, seen_b = {}, {}
    ctx_a, trainer = _student(browser, d, cookie_a, seen_a)
    ctx_b, watcher = _student(browser, d, cookie_b, seen_b)
    try:
        open_page(trainer, d.url, "train")
        _select(trainer, "Dataset", "shapes")
        _fill(trainer, "Epochs", "1")
        _fill(trainer, "Model name", "replica-shapes")
        trainer.get_by_role("button", name="Start training").click()
        wait_ready(trainer)
        trainer.wait_for_url(re.compile(r"job=[0-9a-f]{12}"))
        job = re.search(r"job=([0-9a-f]{12})", trainer.url).group(1)

        open_page(watcher, d.url, "train", f"job={job}")  # the other replica, the same job
        watcher.get_by_text(re.compile(r"replica-shapes.*job .*(running|queued|finished)")).wait_for(timeout=60_000)
        watcher.get_by_text("Saved as replica-shapes").wait_for(timeout=180_000)
        expect(watcher.get_by_text("test images, their reconstructions, prior samples").first).to_be_visible()
        watcher.wait_for_function(MEDIA_LOADED, timeout=30_000)  # the epoch preview, served by replica B

        trainer.get_by_text("Saved as replica-shapes").wait_for(timeout=60_000)  # A sees the same end
        trainer.wait_for_function(MEDIA_LOADED, timeout=30_000)
        assert len(seen_a["replicas"]) == 1 and len(seen_b["replicas"]) == 1, (seen_a, seen_b)
        assert seen_a["replicas"] != seen_b["replicas"]  # two students, two replicas
        assert not seen_a.get("failed") and not seen_b.get("failed"), (seen_a.get("failed"), seen_b.get("failed"))
        for page in (trainer, watcher):
            assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        ctx_a.close()
        ctx_b.close()
    assert d.tracebacks == 0, d.output()
