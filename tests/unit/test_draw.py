"""services/drawing.py: the released drawing from the browser is re-checked before it reaches a model.

A tampered browser can send anything as the component's "drawing" state: every wrong type, size,
value range, encoding and an oversized payload must end in a DrawingError with a specific
message (never another exception), and a valid drawing must round-trip exactly."""
from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from services import drawing, preprocess

SHAPE = (1, 28, 28)


def _digit() -> np.ndarray:
    img = np.zeros((28, 28), dtype=np.uint8)
    img[6:22, 12:16] = 255
    img[6:9, 9:19] = 180
    return img


def test_a_valid_drawing_round_trips_exactly():
    img = _digit()
    value = drawing.encode(img)
    assert set(value) == {"pixels", "width", "height"} and value["width"] == value["height"] == 28
    out = drawing.drawing_pixels(value, SHAPE)
    assert out.dtype == np.uint8 and out.shape == (28, 28) and np.array_equal(out, img)
    as_list = drawing.drawing_pixels({**value, "pixels": img.reshape(-1).tolist()}, SHAPE)
    assert np.array_equal(as_list, img)
    x = drawing.to_tensor(out)
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(x[0, 0], torch.from_numpy(img).float() / 255.0)


def test_a_non_square_model_image_takes_its_own_width_and_height():
    img = np.zeros((20, 32), dtype=np.uint8)
    img[5:15, 10:20] = 200
    assert np.array_equal(drawing.drawing_pixels(drawing.encode(img), (1, 20, 32)), img)
    with pytest.raises(drawing.DrawingError, match="20x32 pixels; this model takes 32x20"):
        drawing.drawing_pixels({**drawing.encode(img), "width": 20, "height": 32}, (1, 20, 32))


def test_nothing_drawn_is_none():
    assert drawing.drawing_pixels(None, SHAPE) is None


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "unknown format"),
    ([1, 2, 3], "unknown format"),
    (42, "unknown format"),
    ({"pixels": "", "width": "28", "height": 28}, "width is not a whole number"),
    ({"pixels": "", "width": 28.0, "height": 28}, "width is not a whole number"),
    ({"pixels": "", "width": True, "height": 28}, "width is not a whole number"),
    ({"pixels": "", "width": 28}, "height is not a whole number"),
    ({"pixels": "", "width": 0, "height": 28}, "width must be 1 to 256 pixels, not 0"),
    ({"pixels": "", "width": 28, "height": 10**12}, "height must be 1 to 256 pixels"),
    ({"pixels": "", "width": 27, "height": 28}, "27x28 pixels; this model takes 28x28"),
    ({"pixels": "", "width": 256, "height": 256}, "256x256 pixels; this model takes 28x28"),
    ({"width": 28, "height": 28}, "missing or of an unknown type"),
    ({"pixels": None, "width": 28, "height": 28}, "missing or of an unknown type"),
    ({"pixels": {"a": 1}, "width": 28, "height": 28}, "missing or of an unknown type"),
    ({"pixels": 3.5, "width": 28, "height": 28}, "missing or of an unknown type"),
])
def test_wrong_types_and_sizes_are_refused_with_a_clear_message(value, message):
    with pytest.raises(drawing.DrawingError, match=message):
        drawing.drawing_pixels(value, SHAPE)


def test_wrong_pixel_counts_and_encodings_are_refused():
    short = base64.b64encode(bytes(783)).decode()
    with pytest.raises(drawing.DrawingError, match="783 pixel values; this model takes 784"):
        drawing.drawing_pixels({"pixels": short, "width": 28, "height": 28}, SHAPE)
    with pytest.raises(drawing.DrawingError, match="not valid base64"):
        drawing.drawing_pixels({"pixels": "!!not base64!!", "width": 28, "height": 28}, SHAPE)
    with pytest.raises(drawing.DrawingError, match="not valid base64"):
        drawing.drawing_pixels({"pixels": "é" * 8, "width": 28, "height": 28}, SHAPE)
    with pytest.raises(drawing.DrawingError, match="785 pixel values"):
        drawing.drawing_pixels({"pixels": [0] * 785, "width": 28, "height": 28}, SHAPE)


@pytest.mark.parametrize("pixels", [[300] + [0] * 783, [-1] + [255] * 783])
def test_out_of_range_pixel_values_are_refused(pixels):
    with pytest.raises(drawing.DrawingError, match="must be 0 to 255, not"):
        drawing.drawing_pixels({"pixels": pixels, "width": 28, "height": 28}, SHAPE)


@pytest.mark.parametrize("bad", [1.5, "7", True, None, float("nan")])
def test_non_integer_pixel_values_are_refused(bad):
    with pytest.raises(drawing.DrawingError, match="whole numbers from 0 to 255"):
        drawing.drawing_pixels({"pixels": [bad] + [255] * 783, "width": 28, "height": 28}, SHAPE)


def test_a_huge_payload_is_refused_before_it_is_decoded(monkeypatch):
    decoded = []
    monkeypatch.setattr(drawing.base64, "b64decode", lambda *a, **k: decoded.append(1) or b"")
    huge = "A" * (50 * 2**20)  # 50 MB of base64
    with pytest.raises(drawing.DrawingError, match="too large"):
        drawing.drawing_pixels({"pixels": huge, "width": 28, "height": 28}, SHAPE)
    assert decoded == []
    with pytest.raises(drawing.DrawingError, match="too large"):
        drawing.drawing_pixels({"pixels": [0] * (10**6), "width": 28, "height": 28}, SHAPE)


def test_a_blank_drawing_is_refused_as_an_upload_would_be():
    faint = np.full((28, 28), 15, dtype=np.uint8)
    with pytest.raises(drawing.DrawingError) as info:
        drawing.drawing_pixels(drawing.encode(faint), SHAPE)
    assert str(info.value) == preprocess.BLANK


def test_colour_models_are_refused():
    with pytest.raises(drawing.DrawingError, match="one-channel"):
        drawing.drawing_pixels(drawing.encode(_digit()), (3, 28, 28))
