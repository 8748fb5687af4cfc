"""deploy/run_local.sh for real: Debian's nginx in front of two ``streamlit run serve.py`` replicas.

Through nginx: the health check answers; nginx's sticky cookie keeps a client on one replica and
different cookies reach both; an image a session was sent exists only on its replica (why the
cookie is needed); an upload-sized body passes nginx's temp files; a real Chromium opens the app,
sees the Decode page's image and uploads a photo on Reconstruct, every response of the app's own
paths under 400 and from one replica; bench/load.py runs through it; SIGTERM (and Ctrl-C) stop
nginx and every replica within seconds, leaving no process, no taken port and no temp folder; a
replica that dies takes the rest down with it and the script fails. Needs nginx (and, for the
browser test, Chromium): skipped without, failed under VAE_REQUIRE_BROWSER (as .ci/run sets).
"""
from __future__ import annotations

import random
import re
import signal
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from harness import browser, deploy, loadclient
from harness.browser import open_page, wait_ready
from harness.loadclient import fetch_media, media_urls
from harness.wsclient import Session
from vae import settings

APP_PATHS = ("/media/", "/_vae/assets/", "/_stcore/")
DROPZONE = '[data-testid="stFileUploaderDropzoneInput"]'


def _skip_or_fail(why: str | None, how: str) -> None:
    """Skip when something is missing; under VAE_REQUIRE_BROWSER (CI), fail."""
    if why is not None:
        if settings.require_browser():
            pytest.fail(f"VAE_REQUIRE_BROWSER is set but {why}; {how}")
        pytest.skip(f"{why}; {how}")


@pytest.fixture(autouse=True)
def _need_browser(request):
    """Overrides the e2e conftest's: every test here needs nginx, only the browser test Chromium."""
    _skip_or_fail(deploy.missing(), deploy.HOW_TO)
    if "page" in request.fixturenames:
        _skip_or_fail(browser.missing(), browser.HOW_TO)


def _data_env(tmp_path_factory) -> dict[str, str]:
    """Private data folders, shared by the replicas of one deployment."""
    root = tmp_path_factory.mktemp("deploy_data")
    return {"VAE_USER_MODELS": str(root / "models"), "VAE_JOBS_DIR": str(root / "jobs")}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    _skip_or_fail(deploy.missing(), deploy.HOW_TO)  # set up before the autouse fixture runs
    d = deploy.start(2, _data_env(tmp_path_factory))
    yield d
    d.stop()


def _get(url: str, cookie: str | None = None, data: bytes | None = None):
    """(status, headers, body) of a request; HTTP errors are answers too."""
    request = urllib.request.Request(url, data=data, headers=deploy.cookie_header(cookie) if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_health_through_nginx_and_an_upload_sized_body(deployment):
    addresses = {r.address for r in deployment.replicas}
    assert len(addresses) == 2 and deployment.url == f"http://127.0.0.1:{deployment.port}"
    status, headers, body = _get(f"{deployment.url}/_stcore/health")
    assert (status, body) == (200, b"ok") and headers[deploy.REPLICA_HEADER] in addresses
    for replica in deployment.replicas:
        assert _get(f"{replica.url}/_stcore/health")[0] == 200
    # 3 MB, over nginx's in-memory buffer: written to its temp folder by its workers (user
    # nobody under root), then passed on; the replica answers (405: not a POST route), not nginx.
    status, headers, _ = _get(f"{deployment.url}/_stcore/health", data=random.randbytes(3 * 2**20))
    assert status == 405 and headers[deploy.REPLICA_HEADER] in addresses


def test_the_sticky_cookie_keeps_a_client_on_one_replica(deployment):
    cookies = deploy.sticky_cookies(deployment.url, 2)
    reached = [{deploy.replica_of(deployment.url, c) for _ in range(10)} for c in cookies]
    assert all(len(r) == 1 for r in reached), reached
    assert set.union(*reached) == {r.address for r in deployment.replicas}
    # A new browser: its first answer sets the cookie, which then keeps it where it landed.
    status, headers, _ = _get(f"{deployment.url}/_stcore/health")
    set_cookie = next(v for k, v in headers.items() if k.lower() == "set-cookie" and v.startswith("vae_replica="))
    assert "HttpOnly" in set_cookie and "Path=/" in set_cookie
    value = set_cookie.split(";")[0].split("=", 1)[1]
    assert {deploy.replica_of(deployment.url, value) for _ in range(10)} == {headers[deploy.REPLICA_HEADER]}
    assert "vae_replica=" not in str(_get(f"{deployment.url}/_stcore/health", value)[1])  # set once only


def test_an_image_lives_on_its_sessions_replica(deployment):
    mine, other = deploy.sticky_cookies(deployment.url, 2)
    with Session(deployment.url, "generate", timeout=60, headers=deploy.cookie_header(mine)) as s:
        s.open()
        run = s.set(generate_seed=random.randint(0, 10_000))  # an image no replica made before
        urls = media_urls(run)
        assert urls and all(fetch_media(deployment.url, u, 30, deploy.cookie_header(mine)) > 0 for u in urls)
        assert {_get(deployment.url + u, other)[0] for u in urls} == {404}  # what sticky sessions prevent


def _photo(path) -> None:
    """A '7' on grainy paper, about 1.2 MB as PNG (over nginx's 1 MB in-memory body buffer)."""
    im = Image.effect_noise((1200, 1500), 40).point(lambda v: 190 + v * 65 // 255)
    ImageDraw.Draw(im).line([(250, 300), (950, 300), (550, 1350)], fill=20, width=100)
    im.save(path)


def test_the_app_in_chromium_through_nginx(deployment, page, tmp_path):
    responses = []
    page.on("response", lambda r: responses.append((r.status, r.url, r.headers.get(deploy.REPLICA_HEADER.lower()))))
    open_page(page, deployment.url)
    expect(page.get_by_role("heading", name="Decode: move through the latent space")).to_be_visible()
    page.wait_for_function("() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0")
    expect(page.locator('[data-testid="liveCanvas"]')).to_be_visible()
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible()
    photo = tmp_path / "seven.png"
    _photo(photo)
    assert photo.stat().st_size > 2**20
    open_page(page, deployment.url, "reconstruct")
    page.locator(DROPZONE).set_input_files(str(photo))
    expect(page.get_by_text("Anomaly score (percentile)")).to_be_visible(timeout=60_000)
    wait_ready(page)
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    # The app's own paths from the root. (Opened at /reconstruct, Streamlit's frontend first looks
    # for a server under that path: /reconstruct/_stcore/health and host-config answer 404, with
    # or without nginx; then it uses the root.)
    own = [(status, url) for status, url, _ in responses if urlsplit(url).path.startswith(APP_PATHS)]
    assert any("/media/" in url for _, url in own) and any("/_stcore/upload_file" in url for _, url in own)
    assert [(status, url) for status, url in own if status >= 400] == []
    assert len({replica for *_, replica in responses if replica}) == 1  # the whole visit on one replica
    assert any(c["name"] == deploy.COOKIE for c in page.context.cookies())


def test_the_load_bench_through_the_balancer(capsys):
    status, tally = loadclient.load_bench().main(["--replicas", "2", "--sessions", "4", "--seconds", "5",
                                                  "--ramp", "1", "--think", "0.3", "--changes", "1",
                                                  "--settle", "0", "--no-warm", "--slider-steps", "0",
                                                  "--after-wait", "0"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert not tally.dropped and tally.exceptions == 0 and tally.media_failed == 0, printed
    assert sum(s.media_files for s in tally.samples) > 0 and tally.sessions == 4, printed
    assert re.search(r"in front of 2 replicas .* students per replica: 127\.0\.0\.1:\d+ 2, 127\.0\.0\.1:\d+ 2$",
                     tally.server), tally.server
    assert "CPU during the load" in printed and "nginx" in printed


def test_a_replica_that_dies_stops_everything(tmp_path_factory):
    d = deploy.start(1, _data_env(tmp_path_factory))
    try:
        deploy.kill_group(d.replicas[0].pid)
        assert d.proc.wait(20) == 1
    finally:
        status = d.stop()  # checks that nginx is gone, the port free, the temp folder removed
    assert status == 1 and "replica 1 (pid" in d.output() and "exited with status" in d.output()


def test_ctrl_c_stops_everything(tmp_path_factory):
    d = deploy.start(1, _data_env(tmp_path_factory))
    start = time.monotonic()
    d.stop(timeout=20, sig=signal.SIGINT, group=True)  # as a terminal's Ctrl-C: the whole foreground group
    assert time.monotonic() - start < 20 and "SIGINT: stopping nginx and 1 replica(s)" in d.output()


def test_sigterm_stops_nginx_and_both_replicas(deployment):
    """Last: it stops the module's deployment."""
    start = time.monotonic()
    assert deployment.stop(timeout=20) == 0  # checks: no process left, port free, temp folder gone
    assert time.monotonic() - start < 20
    assert "SIGTERM: stopping nginx and 2 replica(s)" in deployment.output()
