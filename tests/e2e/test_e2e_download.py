"""Downloads in a real browser: the Download page's model zip and ONNX decoder arrive as files
that open; the Latent map's camera button saves the chart as a PNG with its configured name."""
import io
import zipfile
from pathlib import Path

import onnx
from playwright.sync_api import expect

from harness.browser import open_page

CHART = '[data-testid="stPlotlyChart"]'
DRAWN = ("() => { const gd = document.querySelector('[data-testid=\"stPlotlyChart\"] .js-plotly-plot');"
         " return gd && gd._fullLayout && gd._fullData && gd._fullData.length > 0; }")
CAMERA = '.modebar-btn[data-title^="Download plot"]'


def _download(page, name: str) -> tuple[str, bytes]:
    """Click the download button called ``name``; the file's suggested name and bytes."""
    button = page.get_by_role("button", name=name)
    expect(button).to_be_visible()
    with page.expect_download() as download:
        button.click()
    return download.value.suggested_filename, Path(download.value.path()).read_bytes()


def test_model_zip_and_onnx_decoder_download(page, app_url):
    open_page(page, app_url, "download", "model=mnist-2d")
    expect(page.get_by_role("heading", name="Download: take the model and its latent codes with you")).to_be_visible()

    name, data = _download(page, "Download model (zip)")
    assert name == "mnist-2d.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["mnist-2d/README.md", "mnist-2d/config.json", "mnist-2d/metrics.json",
                                         "mnist-2d/model.safetensors"]
        assert zf.testzip() is None

    name, data = _download(page, "Download decoder (ONNX)")
    assert name == "mnist-2d-decoder.onnx"
    graph = onnx.load_from_string(data)
    onnx.checker.check_model(graph)
    assert [i.name for i in graph.graph.input] == ["z"] and [o.name for o in graph.graph.output] == ["image"]
    assert page.locator('[data-testid="stException"]').count() == 0


def test_latent_map_camera_button_saves_a_named_png(page, app_url):
    open_page(page, app_url, "latent_map", "model=mnist-2d")
    chart = page.locator(CHART).first
    chart.wait_for()
    page.wait_for_function(DRAWN)
    chart.hover()
    camera = chart.locator(CAMERA)
    expect(camera).to_be_visible()
    with page.expect_download(timeout=60_000) as download:
        camera.click()
    assert download.value.suggested_filename == "latent-map-mnist-2d.png"
    data = Path(download.value.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # thousands of dots, not a blank canvas
