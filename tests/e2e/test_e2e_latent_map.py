"""The Latent map in a real browser: clicking a point of the WebGL scatter shows that test image
beside its reconstruction, and draws its posterior ellipse on the map."""
import re

from playwright.sync_api import expect

from harness.browser import open_page, wait_ready

CHART = '[data-testid="stPlotlyChart"]'

# Page coordinates of the k-th point (every 50th, over all classes) well inside the plot area,
# with the ids of every point within 20 px of it (plotly picks the closest of those), read from
# plotly's own axes (l2p: data -> pixels inside the plot area, _offset: the area's corner).
POINT_JS = """([k]) => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const pts = [];
  gd._fullData.filter(t => t.type === 'scattergl').forEach(t => {
    for (let i = 0; i < t.x.length; i++) pts.push([xa.l2p(t.x[i]), ya.l2p(t.y[i]), Number(t.customdata[i])]);
  });
  const inside = pts.filter(([px, py]) => px > 20 && py > 20 && px < xa._length - 20 && py < ya._length - 20);
  const [px, py, id] = inside[(k * 50) % inside.length];
  const near = pts.filter(q => Math.hypot(q[0] - px, q[1] - py) <= 20).map(q => q[2]);
  return {x: box.left + xa._offset + px, y: box.top + ya._offset + py, id, near};
}"""


def _click_a_point(page) -> tuple[int, list[int]]:
    """Click on points (a few tries) until the app shows a selection; returns the id shown and
    the ids of the points within plotly's pick distance of the click."""
    page.wait_for_function("() => { const gd = document.querySelector("
                           "'[data-testid=\"stPlotlyChart\"] .js-plotly-plot'); return gd && gd._fullLayout && "
                           "gd._fullData && gd._fullData.length > 0; }")
    for k in range(5):
        pt = page.evaluate(POINT_JS, [k])
        page.mouse.move(pt["x"], pt["y"])
        page.wait_for_timeout(300)  # let plotly's throttled hover settle on this spot
        page.mouse.click(pt["x"], pt["y"])
        try:
            page.get_by_text("1 image selected.").wait_for(timeout=5_000)
        except Exception:  # noqa: BLE001 - the click did not register: try another point
            continue
        wait_ready(page)
        caption = page.get_by_text(re.compile(r"^original #\d+")).inner_text()
        return int(re.search(r"#(\d+)", caption).group(1)), pt["near"]
    raise AssertionError("no click on the latent map produced a selection")


def test_clicking_a_point_shows_original_and_reconstruction(page, app_url):
    open_page(page, app_url, "latent_map", "model=mnist-2d")
    expect(page.get_by_role("heading", name="Latent map: where the test images land")).to_be_visible()
    chart = page.locator(CHART)
    chart.wait_for()
    expect(page.locator('[data-testid="stAlertContentInfo"]').get_by_text("Click a point")).to_be_visible()
    picked, near = _click_a_point(page)
    assert picked in near, f"the app shows #{picked}, which is not among the points clicked on ({near})"
    main = page.locator('[data-testid="stMainBlockContainer"]')
    expect(main.get_by_text(f"original #{picked}")).to_be_visible()
    expect(main.get_by_text("reconstruction", exact=True)).to_be_visible()
    images = main.locator('[data-testid="stImage"] img')
    expect(images.nth(2)).to_be_visible()  # original, reconstruction, manifold grid
    for k in range(2):  # the original and its reconstruction really loaded
        images.nth(k).scroll_into_view_if_needed()
        page.wait_for_function("im => im.complete && im.naturalWidth > 0", arg=images.nth(k).element_handle())
    expect(main.get_by_text(f"Ellipse: posterior of #{picked}")).to_be_visible()
    # The redrawn map carries the posterior ellipse of the clicked point.
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')]"
                           ".some(gd => (gd.data || []).some(t => t.name === 'posterior ±2σ'))")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_20d_model_is_drawn_on_its_pca_plane(page, app_url):
    open_page(page, app_url, "latent_map", "model=mnist-20d")
    # The map's axes are the principal axes and it carries the manifold grid's dashed box.
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')]"
                           ".some(gd => gd._fullLayout && /^PC1 \\(\\d+\\.\\d% of variance\\)$/"
                           ".test(gd._fullLayout.xaxis.title.text) && (gd.layout.shapes || []).length === 1)")
    main = page.locator('[data-testid="stMainBlockContainer"]')
    expect(main.get_by_text(re.compile(r"^Explained variance of the latent means: PC1"))).to_be_visible()
    expect(main.get_by_text(re.compile(r"^PC1 grows left to right, PC2 bottom to top"))).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
