"""Reconstruct in a real browser: upload a drawn digit and see every step, the reconstruction,
the scores and where it lands on the latent map; upload a text file named .png and see the
specific error, no traceback; a 20-D model's map is its PCA plane."""
import re

from PIL import Image, ImageDraw
from playwright.sync_api import expect

from harness.browser import open_page, wait_ready

DROPZONE = '[data-testid="stFileUploaderDropzoneInput"]'


def _digit_png(path) -> None:
    """A '7' drawn dark on light paper, as a photo of a sheet would give."""
    im = Image.new("L", (120, 160), 240)
    ImageDraw.Draw(im).line([(25, 30), (95, 30), (55, 135)], fill=20, width=12)
    im.save(path)


# True once some Plotly chart on the page has traces with all these names.
HAS_TRACES = """names => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
  .some(gd => names.every(n => (gd.data || []).some(t => t.name === n)))"""


def _captions(page) -> list[str]:
    return page.locator('[data-testid="stImageCaption"]').all_inner_texts()


def test_upload_a_digit_then_a_bad_file(page, app_url, tmp_path):
    open_page(page, app_url, "reconstruct")
    expect(page.get_by_role("heading", name="Reconstruct: your own image through the VAE")).to_be_visible()

    good = tmp_path / "seven.png"
    _digit_png(good)
    page.locator(DROPZONE).set_input_files(str(good))
    expect(page.get_by_text("Anomaly score (percentile)")).to_be_visible(timeout=60_000)
    wait_ready(page)
    captions = _captions(page)
    for step in ("uploaded", "grayscale", "inverted (light background)", "cropped to content", "fit into 20x20",
                 "centred by mass in 28x28", "model input", "reconstruction"):
        assert step in captions, (step, captions)
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    assert labels == ["−ELBO (nats)", "Anomaly score (nats)", "Anomaly score (percentile)"]
    neg_elbo, score, pct = (float(v) for v in page.locator('[data-testid="stMetricValue"]').all_inner_texts())
    assert neg_elbo > 0 and 0 <= score <= neg_elbo and 0 <= pct <= 100
    expect(page.get_by_text("Where it lands on the latent map")).to_be_visible()
    page.wait_for_function(HAS_TRACES, arg=["your image", "posterior ±2σ"])  # the map really drew them
    assert page.locator('[data-testid="stException"]').count() == 0

    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is a text file, not a picture\n")
    page.locator(DROPZONE).set_input_files(str(bad))
    error = page.locator('[data-testid="stAlertContentError"]')
    expect(error).to_have_text("This file is not an image that can be read (use PNG, JPEG, WebP, BMP or GIF).")
    wait_ready(page)
    assert page.locator('[data-testid="stMetricValue"]').count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_test_image_lands_on_the_pca_plane_of_a_20d_model(page, app_url):
    open_page(page, app_url, "reconstruct", "model=mnist-20d")
    page.get_by_text("Try a test image", exact=True).click()
    expect(page.get_by_text("Anomaly score (percentile)")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Where it lands on the latent map")).to_be_visible()
    page.wait_for_function(HAS_TRACES, arg=["your image", "posterior ±2σ (projected)"])
    wait_ready(page)
    expect(page.get_by_text(re.compile(r"^Explained variance of the latent means: PC1"))).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
