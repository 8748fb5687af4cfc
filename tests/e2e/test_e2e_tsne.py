"""The Latent map's t-SNE projection in a real browser: choose t-SNE for mnist-20d (its map ships
precomputed, for the full test set and for the 2,000-image sample), lasso a patch of the WebGL
scatter and see those test images beside their reconstructions."""
import re

from playwright.sync_api import expect

from harness.browser import wait_ready

CHART = '[data-testid="stPlotlyChart"]'
TSNE_AXIS = ("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')]"
             ".some(gd => gd._fullLayout && gd._fullLayout.xaxis.title.text === 't-SNE 1' && gd._fullData.length > 0)")

# A square of 2*R px around the k-th point (every 37th, well inside the plot area), in page
# coordinates, with the ids of the points inside it (shrunk and grown by 3 px: points on the edge
# may go either way), read from plotly's own axes as test_e2e_latent_map.py does.
SQUARE_JS = """([k, r]) => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const pts = [];
  gd._fullData.filter(t => t.type === 'scattergl').forEach(t => {
    for (let i = 0; i < t.x.length; i++) pts.push([xa.l2p(t.x[i]), ya.l2p(t.y[i]), Number(t.customdata[i])]);
  });
  const m = r + 10;
  const inside = pts.filter(([px, py]) => px > m && py > m && px < xa._length - m && py < ya._length - m);
  const [cx, cy] = inside[(k * 37) % inside.length];
  const within = d => pts.filter(q => Math.abs(q[0] - cx) < r + d && Math.abs(q[1] - cy) < r + d).map(q => q[2]);
  return {x: box.left + xa._offset + cx, y: box.top + ya._offset + cy, inner: within(-3), outer: within(3)};
}"""


def _lasso(page, sq: dict, r: int) -> None:
    """Drag the lasso around the square of half-width ``r`` centred at (sq.x, sq.y)."""
    x, y = sq["x"], sq["y"]
    corners = [(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r), (x - r, y - r + 1)]
    page.mouse.move(*corners[0])
    page.mouse.down()
    for cx, cy in corners[1:]:
        page.mouse.move(cx, cy, steps=8)
    page.mouse.up()


def test_tsne_map_lasso_shows_originals_and_reconstructions(page, app_url):
    page.goto(f"{app_url}/latent_map?model=mnist-20d")
    wait_ready(page, timeout=120_000)  # a first visit encodes the test set (slow on a busy machine)
    main = page.locator('[data-testid="stMainBlockContainer"]')
    main.locator('[data-testid="stRadio"]').get_by_text("t-SNE", exact=True).click()
    page.wait_for_function(TSNE_AXIS, timeout=120_000)
    wait_ready(page, timeout=60_000)
    expect(main.get_by_text(re.compile(r"^t-SNE map of the 20-D latent means of [\d,]+ test images$"))).to_be_visible()
    expect(main.get_by_text("has no way back from a point to a code z", exact=False)).to_be_visible()
    chart = page.locator(CHART)
    chart.hover()
    chart.locator('.modebar-btn[data-val="lasso"]').click()
    r = 30
    for k in range(5):  # a patch with a few points in it
        sq = page.evaluate(SQUARE_JS, [k, r])
        if 2 <= len(sq["inner"]) <= 24:
            break
    assert sq["inner"], "no point inside the lasso square"
    _lasso(page, sq, r)
    caption = main.get_by_text(re.compile(r"^\d+ images? selected"))
    expect(caption).to_be_visible()
    wait_ready(page)
    n = int(caption.inner_text().split()[0])
    assert len(sq["inner"]) <= n <= len(sq["outer"]), (n, sq)
    images = main.locator('[data-testid="stImage"] img')
    expect(images.nth(1)).to_be_visible()  # originals (or original) and reconstructions
    for k in range(2):
        page.wait_for_function("im => im.complete && im.naturalWidth > 0", arg=images.nth(k).element_handle())
    if n > 1:
        listed = main.get_by_text(re.compile(r"^In reading order: ")).inner_text()
        assert {int(i) for i in re.findall(r"#(\d+)", listed)} <= set(sq["outer"])
        expect(main.get_by_text("reconstructions", exact=True)).to_be_visible()
    else:
        expect(main.get_by_text("reconstruction", exact=True)).to_be_visible()
    expect(main.get_by_text(re.compile(r"^Marker: #\d+ on the t-SNE map"))).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
