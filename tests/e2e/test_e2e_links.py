"""Every view is a link, in a real browser: act on a page in browser context A, copy its link with
the "Copy link" button, open the link in a new context B (no shared cookies, storage or session)
and compare what B draws with what A drew, byte for byte (images) or pixel for pixel (the live
canvas). An uploaded image never goes into a link, and the page says so."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw
from playwright.sync_api import expect

from harness.browser import open_page, start_app, stop_app, wait_ready

DATA_URL = "canvas => canvas.toDataURL()"
DRAWN = "() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0"
IMAGES = '[data-testid="stImage"] img'
DROPZONE = '[data-testid="stFileUploaderDropzoneInput"]'


def _context(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    return ctx, page


def _wait_param(page, name: str, test: str) -> None:
    """Wait until the page's URL has query parameter ``name`` and ``test`` (JS, on ``v``) holds."""
    page.wait_for_function(f"() => {{ const v = new URLSearchParams(location.search).get({name!r});"
                           f" return v !== null && ({test}); }}")


def _copy_link(page) -> str:
    """Click "Copy link" and return what it copied (the clipboard, else the field shown instead)."""
    page.locator('[data-testid="copyLink"]').click()
    status = page.locator('[data-testid="copyLinkStatus"]')
    expect(status).to_have_text(re.compile(r"Link copied\.|Copy this link"))
    if status.inner_text() == "Link copied.":
        return page.evaluate("() => navigator.clipboard.readText()")
    return page.locator('[data-testid="copyLinkField"]').input_value()


def _bytes(page, img) -> bytes:
    """The bytes behind an <img> (fetched as the page would)."""
    src = img.evaluate("im => im.src")  # absolute
    response = page.request.get(src)
    assert response.ok, src
    return response.body()


def _open_link(browser, link: str):
    ctx, page = _context(browser)
    page.goto(link)
    wait_ready(page)
    page.wait_for_selector('[data-testid="stMainBlockContainer"]')
    return ctx, page


def _no_exception(*pages) -> None:
    for page in pages:
        assert page.locator('[data-testid="stException"]').count() == 0


def test_decode_link_reproduces_the_point_in_a_new_browser(browser, app_url):
    ctx_a, a = _context(browser)
    try:
        open_page(a, app_url, "", "model=mnist-2d")
        a.wait_for_function(DRAWN)
        canvas, slider = a.locator('[data-testid="liveCanvas"]').first, a.locator('[data-testid="liveSlider"]').nth(1)
        origin = canvas.evaluate(DATA_URL)
        box = slider.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        a.mouse.move(x, y)
        a.mouse.down()
        a.mouse.move(x + box["width"] * 0.3, y, steps=10)
        a.mouse.up()
        _wait_param(a, "z", "v !== '0,0'")  # the release reached the server, which wrote the URL
        wait_ready(a)
        expect(a.locator(IMAGES).first).to_be_visible()
        link = _copy_link(a)
        assert set(parse_qs(urlsplit(link).query)) == {"model", "z"} and urlsplit(link).path == "/"
        strip_a, canvas_a = _bytes(a, a.locator(IMAGES).first), canvas.evaluate(DATA_URL)
        assert canvas_a != origin
        ctx_b, b = _open_link(browser, link)
        try:
            b.wait_for_function(DRAWN)
            assert float(b.locator('[data-testid="liveSlider"]').nth(1).input_value()) == float(
                slider.input_value())
            expect(b.locator(IMAGES).first).to_be_visible()
            assert _bytes(b, b.locator(IMAGES).first) == strip_a  # the traversal strip, drawn by the server
            b.wait_for_function("([sel, want]) => { const cs = [...document.querySelectorAll('*')]"
                                ".filter(e => e.shadowRoot).flatMap(e => [...e.shadowRoot.querySelectorAll(sel)]);"
                                " return cs.length && cs[0].toDataURL() === want; }",
                                arg=['[data-testid="liveCanvas"]', canvas_a])  # the live canvas, drawn in B
            _no_exception(a, b)
        finally:
            ctx_b.close()
    finally:
        ctx_a.close()


def test_generate_link_reproduces_the_grid_and_sync_adds_no_rerun(browser, app_url):
    ctx_a, a = _context(browser)
    try:
        sent: list = []  # every message the page sends to the server
        a.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
        open_page(a, app_url, "generate", "model=mnist-2d")
        grid = a.locator(IMAGES)
        expect(grid).to_have_count(1)
        _wait_param(a, "seed", "v === '0'")
        wait_ready(a)
        before, n_sent = grid.get_attribute("src"), len(sent)
        seed = a.get_by_label("Seed", exact=True)
        seed.fill("3")
        seed.press("Enter")
        expect(grid).not_to_have_attribute("src", before)
        _wait_param(a, "seed", "v === '3'")
        wait_ready(a)
        # One message to the server for the new seed: writing the URL sent none and caused no rerun.
        assert len(sent) - n_sent == 1, f"{len(sent) - n_sent} messages sent for one change"
        link = _copy_link(a)
        assert urlsplit(link).path == "/generate"
        assert parse_qs(urlsplit(link).query) == {"model": ["mnist-2d"], "seed": ["3"], "temp": ["1"], "n": ["8"]}
        grid_a = _bytes(a, grid)
        ctx_b, b = _open_link(browser, link)
        try:
            expect(b.locator(IMAGES)).to_have_count(1)
            assert _bytes(b, b.locator(IMAGES)) == grid_a
            expect(b.get_by_label("Seed", exact=True)).to_have_value("3")
            _no_exception(a, b)
        finally:
            ctx_b.close()
    finally:
        ctx_a.close()


def _path_canvas(page) -> str:
    """The live path's canvas (the image at t, decoded in the browser) as a data URL."""
    return page.locator('[data-testid="liveCanvas"]').first.evaluate(DATA_URL)


def test_morph_link_reproduces_the_image_at_t(browser, app_url):
    ctx_a, a = _context(browser)
    try:
        open_page(a, app_url, "morph", "model=mnist-2d")
        images = a.locator(IMAGES)
        expect(images).to_have_count(3)  # start, strip, end; the image at t is the live path's canvas
        a.wait_for_function(DRAWN)
        before = _path_canvas(a)
        thumb = a.locator('[data-testid="pathSlider"]')
        thumb.scroll_into_view_if_needed()
        box = thumb.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the thumb, at t = 0.5
        a.mouse.move(x, y)
        a.mouse.down()
        a.mouse.move(x + box["width"] * 0.2, y, steps=8)  # redrawn in the browser at each step
        a.mouse.up()  # one change: t goes to the server, which writes the URL
        t = thumb.input_value()
        assert float(t) > 0.6
        _wait_param(a, "t", f"Number(v) === {t}")
        wait_ready(a)
        link = _copy_link(a)
        query = parse_qs(urlsplit(link).query)
        assert urlsplit(link).path == "/morph" and set(query) == {"model", "a", "b", "method", "t", "n"}
        canvas_a, ends_a = _path_canvas(a), [_bytes(a, images.nth(i)) for i in range(3)]
        assert canvas_a != before
        ctx_b, b = _open_link(browser, link)
        try:
            expect(b.locator(IMAGES)).to_have_count(3)
            assert [_bytes(b, b.locator(IMAGES).nth(i)) for i in range(3)] == ends_a
            expect(b.locator('[data-testid="pathSlider"]')).to_have_value(t)
            b.wait_for_function("want => { const cs = [...document.querySelectorAll('*')].filter(e => e.shadowRoot)"
                                ".flatMap(e => [...e.shadowRoot.querySelectorAll('[data-testid=\"liveCanvas\"]')]);"
                                " return cs.length && cs[0].toDataURL() === want; }", arg=canvas_a)
            _no_exception(a, b)
        finally:
            ctx_b.close()
    finally:
        ctx_a.close()


def test_an_uploaded_image_is_not_in_the_link_and_the_page_says_so(browser, app_url, tmp_path):
    ctx_a, a = _context(browser)
    try:
        open_page(a, app_url, "reconstruct", "model=mnist-2d")
        digit = tmp_path / "seven.png"
        im = Image.new("L", (120, 160), 240)
        ImageDraw.Draw(im).line([(25, 30), (95, 30), (55, 135)], fill=20, width=12)
        im.save(digit)
        a.locator(DROPZONE).set_input_files(str(digit))
        expect(a.get_by_text("Anomaly score (percentile)")).to_be_visible(timeout=60_000)
        wait_ready(a)
        expect(a.get_by_text("Uploaded images and drawings are not in links")).to_be_visible()
        link = _copy_link(a)
        assert parse_qs(urlsplit(link).query) == {"model": ["mnist-2d"], "img": ["upload"], "seed": ["0"]}
        assert len(link) < 200 and "seven" not in link
        ctx_b, b = _open_link(browser, link)
        try:
            expect(b.get_by_text("uploaded image or a drawing: those are not in links")).to_be_visible()
            expect(b.locator(DROPZONE)).to_be_attached()
            assert b.get_by_text("Anomaly score (percentile)").count() == 0
            _no_exception(a, b)
        finally:
            ctx_b.close()
    finally:
        ctx_a.close()


def test_a_link_opens_the_same_view_on_a_classroom_server(browser, app_url, user_models_dir, tmp_path):
    """The URL is the only state that travels: a Generate link made on one server draws the same
    grid on another, here a classroom server (whose first visit reloads the page once to send the
    workspace cookie: the link survives it)."""
    query = "model=mnist-2d&seed=3&temp=1.25&n=6"
    ctx_a, a = _context(browser)
    proc, classroom = start_app({"VAE_MODE": "classroom", "VAE_USER_MODELS": str(user_models_dir),
                                 "VAE_JOBS_DIR": str(tmp_path / "jobs")})
    try:
        open_page(a, app_url, "generate", query)
        expect(a.locator(IMAGES)).to_have_count(1)
        grid_a = _bytes(a, a.locator(IMAGES))
        ctx_b, b = _context(browser)
        try:
            open_page(b, classroom, "generate", query)
            expect(b.get_by_label("Seed", exact=True)).to_have_value("3")
            expect(b.locator(IMAGES)).to_have_count(1)
            assert _bytes(b, b.locator(IMAGES)) == grid_a
            link = _copy_link(b)  # the workspace (a cookie) never travels in a link: only these parameters
            assert parse_qs(urlsplit(link).query) == {"model": ["mnist-2d"], "seed": ["3"], "temp": ["1.25"],
                                                      "n": ["6"]}
            _no_exception(a, b)
        finally:
            ctx_b.close()
    finally:
        stop_app(proc)
        ctx_a.close()


def test_without_a_clipboard_the_link_is_shown_to_copy_by_hand(browser, app_url):
    """Plain http on another machine has no navigator.clipboard: the button shows the link instead."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    page = ctx.new_page()
    try:
        open_page(page, app_url, "generate", "model=mnist-2d&seed=11")
        page.locator('[data-testid="copyLink"]').click()
        expect(page.locator('[data-testid="copyLinkStatus"]')).to_have_text("Copy this link (Ctrl+C):")
        field = page.locator('[data-testid="copyLinkField"]')
        expect(field).to_be_visible()
        assert parse_qs(urlsplit(field.input_value()).query)["seed"] == ["11"]
    finally:
        ctx.close()
