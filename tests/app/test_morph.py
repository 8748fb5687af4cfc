"""AppTest: the Morph page, driven as a user would.

Download data: AppTest's mock runtime keeps media (images, download payloads) in a
``MemoryMediaFileStorage`` that is dropped after each run, so the ``media`` fixture records
every payload as it is stored; a download button's ``proto.url`` names its file id.
"""
import io

import numpy as np
import pytest
from app_helpers import image_urls, open_app, shown
from PIL import Image

from services import export


def _app(model="mnist-2d"):
    return open_app(model, "pages/morph.py")


@pytest.fixture
def server_t(monkeypatch) -> None:
    """The image at t decoded on the server under a Streamlit slider, as when the decoder cannot
    run in the browser (the live path, the default, is tested in test_morph_live.py)."""
    monkeypatch.setattr(export, "MAX_PARAMS", 1000)


def _strip(at) -> str:
    """URL of the strip mosaic: images are start, strip, end, then the image at t."""
    return image_urls(at)[1]


def _image_captions(at) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


def _radio(at, key_suffix):
    return next(r for r in at.radio if r.key == f"morph_{key_suffix}")


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_morph_page_shows_endpoints_strip_and_image_at_t(server_t):
    at = _app()
    assert at.header[0].value.startswith("Morph")
    assert not at.error
    urls = image_urls(at)
    assert len(urls) == 4, urls  # start, strip, end, image at t
    assert len(set(urls)) == 4
    image_captions = _image_captions(at)
    assert image_captions[0] == "start (original)" and image_captions[2] == "end (original)"
    assert image_captions[3] == "decoded at t = 0.50"
    captions = " ".join(c.value for c in at.caption)
    assert "Start: test image #" in captions and "End: test image #" in captions


def test_changing_an_endpoint_changes_the_strip_and_the_start_image():
    at = _app()
    before = image_urls(at)
    at.number_input(key="morph_a_index").set_value(5).run()
    assert not at.exception
    after = image_urls(at)
    assert after[0] != before[0], "start original did not change"
    assert after[1] != before[1], "strip did not change"
    assert after[2] == before[2], "the end image should stay"


def test_method_changes_the_strip_on_a_higher_dimensional_model():
    at = _app("mnist-20d")
    before = _strip(at)
    _radio(at, "method").set_value("spherical").run()
    assert not at.exception
    assert _strip(at) != before
    assert "Spherical (slerp)" in _image_captions(at)[1]


def test_slider_over_t_changes_the_large_image_only(server_t):
    at = _app()
    before = image_urls(at)
    at.slider(key="morph_t").set_value(0.1).run()
    assert not at.exception
    after = image_urls(at)
    assert after[3] != before[3]
    assert after[:3] == before[:3]
    assert _image_captions(at)[3] == "decoded at t = 0.10"


@pytest.fixture
def deferred(monkeypatch) -> dict[str, object]:
    """file id -> the callable behind every deferred download the app registers (made on click)."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    store: dict[str, object] = {}
    original = MediaFileManager.add_deferred

    def spy(self, data_callable, *args, **kwargs):
        file_id = original(self, data_callable, *args, **kwargs)
        store[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return store


def _gif(at, deferred) -> bytes:
    """What clicking "Download morph as GIF" gives: the GIF is made only then."""
    button = next(b for b in at.get("download_button") if b.label == "Download morph as GIF")
    return deferred[button.proto.deferred_file_id]()


def test_gif_download_has_2n_minus_2_frames(deferred):
    at = _app()
    at.slider(key="morph_steps").set_value(6).run()
    assert not at.exception
    data = _gif(at, deferred)
    assert data.startswith(b"GIF8")
    gif = Image.open(io.BytesIO(data))
    assert gif.n_frames == 2 * 6 - 2
    # Another endpoint gives another animation.
    at.number_input(key="morph_b_index").set_value(7).run()
    assert _gif(at, deferred) != data


def test_random_of_a_class_is_seeded():
    at = _app()
    _radio(at, "a_source").set_value("Random of a class").run()
    at.selectbox(key="morph_a_class_mnist").set_value(3).run()
    assert not at.exception
    assert any("Start: test image #" in c.value and "(3)" in c.value.split("End")[0] for c in at.caption)
    first = image_urls(at)[0]
    at.number_input(key="morph_a_seed").set_value(1).run()
    second = image_urls(at)[0]
    assert second != first
    at.number_input(key="morph_a_seed").set_value(0).run()
    assert image_urls(at)[0] == first, "the same seed must pick the same image"


def test_bad_upload_shows_a_specific_error():
    at = _app()
    _radio(at, "b_source").set_value("Upload").run()
    assert at.info, "no prompt to upload"
    at.file_uploader(key="morph_b_upload").set_value(("bad.png", b"not an image", "image/png")).run()
    assert not at.exception
    assert any("not an image that can be read" in e.value for e in at.error)
    assert len(image_urls(at)) == 0, "no morph without both endpoints"


def test_good_upload_is_prepared_and_morphed(server_t):
    at = _app()
    _radio(at, "b_source").set_value("Upload").run()
    digit = np.full((120, 90), 255, np.uint8)  # a dark bar on white paper, like a scanned "1"
    digit[15:105, 38:52] = 0
    at.file_uploader(key="morph_b_upload").set_value(("one.png", _png(digit), "image/png")).run()
    assert not at.exception
    assert not at.error
    assert len(image_urls(at)) == 4
    assert any("End: uploaded one.png" in shown(c.value) for c in at.caption)
