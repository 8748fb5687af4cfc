"""AppTest: the Decode page, driven as a user would."""
from app_helpers import image_urls, open_app


def _app(model="mnist-2d"):
    return open_app(model, "pages/decode.py")


def _image_bytes(at):
    return image_urls(at)[0]


def test_decode_page_shows_sliders_and_image():
    at = _app()
    assert at.header[0].value.startswith("Decode")
    assert len(at.slider) == 2
    assert image_urls(at), "no decoded image shown"


def test_moving_a_slider_changes_the_image():
    at = _app()
    before = _image_bytes(at)
    at.slider[0].set_value(2.5).run()
    assert not at.exception
    assert _image_bytes(at) != before


def test_random_and_reset_buttons():
    at = _app("mnist-20d")
    assert len(at.slider) == 20
    random = next(b for b in at.button if b.label == "Random from prior")
    random.click().run()
    values = [s.value for s in at.slider]
    assert any(abs(v) > 0.05 for v in values)
    next(b for b in at.button if b.label == "Reset to 0").click().run()
    assert all(s.value == 0.0 for s in at.slider)


def test_encode_a_dataset_image_sets_the_sliders():
    at = _app()
    at.number_input(key="decode_index").set_value(3)
    next(b for b in at.button if b.label == "Encode it").click().run()
    assert not at.exception
    assert any(abs(s.value) > 0.05 for s in at.slider)
    assert any("Started from encoded test image" in c.value for c in at.caption)
