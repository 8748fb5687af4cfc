"""AppTest: the Generate page, driven as a user would.

The PNG payload is read through the ``media`` fixture (tests/app/conftest.py).
"""
import io

from app_helpers import download_data, image_urls, open_app
from PIL import Image

LABEL = "Download grid as PNG"


def download_png(at, media: dict[str, bytes]) -> Image.Image:
    button = next(b for b in at.get("download_button") if b.label == LABEL)
    assert button.proto.url.endswith(".png")
    return Image.open(io.BytesIO(download_data(at, media, LABEL)))


def _app(model="mnist-2d"):
    return open_app(model, "pages/generate.py")


def _grid(at) -> str:
    urls = image_urls(at)
    assert len(urls) == 1, urls
    return urls[0]


def test_generate_page_shows_a_grid():
    at = _app()
    assert at.header[0].value.startswith("Generate")
    assert not at.error
    _grid(at)
    caption = at.get("image")[0].proto.imgs[0].caption
    assert "64 samples" in caption and "seed 0" in caption


def test_same_seed_same_grid_other_seed_other_grid():
    at = _app()
    first = _grid(at)
    at.number_input(key="generate_seed").set_value(7).run()
    assert not at.exception
    seven = _grid(at)
    assert seven != first
    at.number_input(key="generate_seed").set_value(0).run()
    assert _grid(at) == first
    again = _app()  # a fresh session with the same seed draws the same samples
    assert _grid(again) == first


def test_new_samples_button_moves_to_the_next_seed():
    at = _app()
    first = _grid(at)
    next(b for b in at.button if b.label == "New samples").click().run()
    assert at.number_input(key="generate_seed").value == 1
    assert _grid(at) != first


def test_temperature_changes_the_grid():
    at = _app("mnist-20d")
    first = _grid(at)
    at.slider(key="generate_temperature").set_value(0.5).run()
    assert not at.exception
    assert _grid(at) != first


def test_png_download_matches_the_grid_size(media):
    at = _app()
    big = download_png(at, media)
    assert big.format == "PNG"
    at.selectbox(key="generate_grid").set_value(4).run()
    assert not at.exception
    small = download_png(at, media)
    assert small.format == "PNG"
    assert small.width < big.width, "a 4x4 grid must be narrower than the default 8x8"
    assert "16 samples" in at.get("image")[0].proto.imgs[0].caption
