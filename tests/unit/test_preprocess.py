"""services.preprocess: every bad or odd file a user can upload, made here with Pillow, and the
MNIST-style preparation (invert, level, crop, fit 20x20, centre by mass in 28x28)."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from services import preprocess as pp

MNIST = (1, 28, 28)
NOT_AN_IMAGE = "This file is not an image that can be read (use PNG, JPEG, WebP, BMP or GIF)."
TOO_MANY = "The image declares more than 16 megapixels (a possible decompression bomb), so it was not opened."
BLANK = "The image looks blank: it has no visible strokes or shapes, so there is nothing to crop to."
DAMAGED = "The image data is damaged or truncated ("


# ---------------------------------------------------------------- file builders

def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def strokes(size=(90, 120), box=(20, 15, 70, 105), width=9) -> Image.Image:
    """A '0'-like ring as a mode-L mask: 255 on the strokes, 0 elsewhere."""
    im = Image.new("L", size, 0)
    ImageDraw.Draw(im).ellipse(box, outline=255, width=width)
    return im


def dark_on_light(mask: Image.Image, paper: int = 255, ink: int = 0) -> Image.Image:
    arr = np.where(np.asarray(mask) > 127, ink, paper).astype(np.uint8)
    return Image.fromarray(arr)


def with_ihdr_size(png: bytes, w: int, h: int) -> bytes:
    """A real PNG whose IHDR now declares w x h (CRC fixed, so the header is valid)."""
    assert png[12:16] == b"IHDR"
    body = struct.pack(">II", w, h) + png[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF)
    return png[:16] + body + crc + png[33:]


def out_array(p: pp.Prepared) -> np.ndarray:
    return (p.tensor[0, 0] * 255).round().numpy()


def centre_of_mass(arr: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(arr.shape)
    total = arr.sum()
    return float((ys * arr).sum() / total), float((xs * arr).sum() / total)


def bbox(arr: np.ndarray, level: float = 0) -> tuple[int, int]:
    """(height, width) of the box around pixels above ``level``."""
    ys, xs = np.nonzero(arr > level)
    return int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The ring as MNIST would have it: white on black, prepared with style 'mnist'."""
    return out_array(pp.prepare(encode(strokes()), MNIST))


def close_to(ref: np.ndarray, got: np.ndarray, tol: float = 6.0) -> bool:
    """Mean absolute difference below ``tol`` grey levels, allowing a shift of up to 1 px
    (JPEG noise can tip the rounding of the centre of mass)."""
    diffs = [np.abs(ref - np.roll(got, (dy, dx), axis=(0, 1))).mean() for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return float(min(diffs)) < tol


# ---------------------------------------------------------------- files that must be refused

def test_zero_bytes():
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(b"", MNIST)
    assert str(e.value) == "The file is empty (0 bytes)."


@pytest.mark.parametrize("data", [
    bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)),
    b"hello, this .png is really a text file\n" * 20,
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 10,  # a PNG signature and nothing after it
])
def test_not_an_image(data):
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(data, MNIST)
    assert str(e.value) == NOT_AN_IMAGE


def test_formats_outside_the_list_are_refused():
    """A TIFF renamed to .png is not handed to the TIFF decoder (nor EPS to Ghostscript)."""
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(encode(dark_on_light(strokes()), "TIFF"), MNIST)
    assert str(e.value) == NOT_AN_IMAGE


def test_png_truncated_to_half():
    data = encode(Image.fromarray(np.random.default_rng(1).integers(0, 256, (120, 90), dtype=np.uint8)))
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(data[: len(data) // 2], MNIST)
    assert str(e.value).startswith(DAMAGED) and str(e.value).endswith(").")


def test_jpeg_truncated():
    data = encode(dark_on_light(strokes()).convert("RGB"), "JPEG")
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(data[: len(data) // 2], MNIST)
    assert str(e.value).startswith(DAMAGED)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("pillow_limit", [None, pp.MAX_PIXELS], ids=["pillow-default", "as-app.py-sets"])
@pytest.mark.parametrize("w,h", [(20_000, 20_000), (5_000, 4_000)])
def test_decompression_bomb_header(monkeypatch, pillow_limit, w, h):
    """A tiny PNG whose header declares w x h: refused from the header, whatever Pillow's own
    limit is (app.py lowers it; unit tests may run with Pillow's default)."""
    if pillow_limit is not None:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)
    data = with_ihdr_size(encode(Image.new("L", (8, 8), 200)), w, h)
    assert len(data) < 200
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(data, MNIST)
    assert str(e.value) == TOO_MANY


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_real_image_over_the_pixel_limit():
    data = encode(Image.new("L", (4_100, 4_000), 0))  # 16.4 megapixels of black: a few kB
    assert len(data) < pp.MAX_BYTES
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(data, MNIST)
    assert str(e.value) == TOO_MANY


def test_huge_side():
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(encode(Image.new("L", (10_000, 1), 0)), MNIST)
    assert str(e.value) == "The image is 10000x1 pixels; the limit is 8000 pixels per side."


def test_file_over_the_byte_limit():
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(b"\x89PNG" + b"\x00" * (6 * 2**20 - 4), MNIST)
    assert str(e.value) == "The file is 6.0 MB, over the 5 MB limit."


@pytest.mark.parametrize("paper", [255, 0, 128])
def test_blank_image(paper):
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(encode(Image.new("L", (50, 40), paper)), MNIST)
    assert str(e.value) == BLANK


def test_fully_transparent_image_is_blank():
    with pytest.raises(pp.ImageError) as e:
        pp.prepare(encode(Image.new("RGBA", (50, 40), (0, 0, 0, 0))), MNIST)
    assert str(e.value) == BLANK


def test_bad_options_are_programming_errors():
    data = encode(strokes())
    with pytest.raises(ValueError, match="style must be one of"):
        pp.prepare(data, MNIST, style="crop")
    with pytest.raises(ValueError, match="invert must be one of"):
        pp.prepare(data, MNIST, invert="maybe")


# ---------------------------------------------------------------- the MNIST recipe

def test_light_background_digit_is_inverted(reference):
    p = pp.prepare(encode(dark_on_light(strokes())), MNIST)
    captions = [c for c, _ in p.steps]
    assert captions == ["uploaded", "grayscale", "inverted (light background)", "cropped to content",
                        "fit into 20x20", "centred by mass in 28x28"]
    out = out_array(p)
    assert out[0].max() == out[-1].max() == out[:, 0].max() == out[:, -1].max() == 0  # black border
    assert out.max() == 255
    assert close_to(reference, out, tol=1.0)


@pytest.mark.parametrize("box", [(20, 15, 70, 105), (5, 5, 85, 40), (55, 70, 85, 115), (40, 10, 50, 110)],
                         ids=["ring", "wide", "small-off-centre", "thin-bar"])
def test_mnist_style_geometry(box):
    """28x28, the content fits 20x20 with its longer side 20, centre of mass at (14, 14) +- 0.5."""
    p = pp.prepare(encode(dark_on_light(strokes(box=box, width=5))), MNIST)
    out = out_array(p)
    assert p.tensor.shape == (1, 1, 28, 28) and p.tensor.dtype == torch.float32
    assert float(p.tensor.min()) >= 0.0 and float(p.tensor.max()) <= 1.0
    h, w = bbox(out)
    assert max(h, w) <= 20 and max(bbox(out, 64)) >= 18
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 + 1e-6 and abs(cx - 14) <= 0.5 + 1e-6, (cy, cx)
    assert p.steps[-2][0] == "fit into 20x20" and max(p.steps[-2][1].shape) == 20


def test_mnist_recipe_matches_real_mnist_statistics():
    """Centre of mass of the prepared ring sits where MNIST's do (mean (14.0, 14.0), sd 0.3)."""
    out = out_array(pp.prepare(encode(dark_on_light(strokes(box=(10, 30, 80, 60)))), MNIST))
    cy, cx = centre_of_mass(out)
    assert np.hypot(cy - 14.0, cx - 14.0) < 0.75


def test_fit_style_fills_the_frame_and_centres_the_box():
    p = pp.prepare(encode(dark_on_light(strokes(box=(5, 20, 85, 60)))), MNIST, style="fit")
    out = out_array(p)
    assert [c for c, _ in p.steps][-2:] == ["fit into 28x28", "centred in 28x28"]
    ys, xs = np.nonzero(out > 0)
    assert xs.min() == 0 and xs.max() == 27  # wide ring: touches left and right
    top, bottom = ys.min(), 27 - ys.max()
    assert abs(int(top) - int(bottom)) <= 1 and top > 5


def test_resize_style_keeps_the_whole_picture():
    img = dark_on_light(strokes(size=(56, 56), box=(0, 0, 27, 27), width=4))
    p = pp.prepare(encode(img), MNIST, style="resize")
    assert [c for c, _ in p.steps] == ["uploaded", "grayscale", "inverted (light background)", "resized to 28x28"]
    out = out_array(p)
    assert out[:14, :14].mean() > 40 and out[14:, 14:].max() < 30  # content stays top-left


def test_invert_options():
    light_on_dark = encode(strokes())
    p = pp.prepare(light_on_dark, MNIST, invert="auto")
    assert "inverted (light background)" not in [c for c, _ in p.steps]
    p = pp.prepare(light_on_dark, MNIST, invert="yes", style="resize")
    assert [c for c, _ in p.steps][2] == "inverted"
    assert out_array(p)[0, 0] == 255  # black background became white
    p = pp.prepare(encode(dark_on_light(strokes())), MNIST, invert="no", style="resize")
    assert "inverted" not in " ".join(c for c, _ in p.steps)
    assert out_array(p)[0, 0] == 255


def test_grey_paper_photo_is_levelled(reference):
    """Dark-grey ink on light-grey paper: after inverting, the paper is set to black, so the
    crop finds the strokes instead of the whole sheet."""
    photo = dark_on_light(strokes(), paper=185, ink=70)
    p = pp.prepare(encode(photo), MNIST)
    captions = [c for c, _ in p.steps]
    assert captions[3] == "background to black, contrast stretched"
    assert p.steps[4][1].shape == (91, 51)  # the ring's box, not the 120x90 sheet
    assert close_to(reference, out_array(p), tol=2.0)


# ---------------------------------------------------------------- odd but usable files

def test_16_bit_png(reference):
    arr16 = np.asarray(dark_on_light(strokes()), dtype=np.uint16) * 257
    im = Image.fromarray(arr16)
    assert im.mode == "I;16"
    notes: list[str] = []
    opened = pp.open_image(encode(im), notes)
    assert opened.mode == "L" and np.array_equal(np.asarray(opened), np.asarray(dark_on_light(strokes())))
    assert notes == ["16-bit grayscale image: scaled to 8 bits per pixel."]
    p = pp.prepare(encode(im), MNIST)
    assert p.notes == notes and close_to(reference, out_array(p), tol=1.0)


def test_16_bit_levels_scale_to_8_bits():
    ramp = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    opened = pp.open_image(encode(Image.fromarray(ramp)))
    assert np.asarray(opened).tolist() == [[0, 1, 128, 255]]


def test_cmyk_jpeg(reference):
    im = dark_on_light(strokes()).convert("RGB").convert("CMYK")
    data = encode(im, "JPEG", quality=95)
    notes: list[str] = []
    opened = pp.open_image(data, notes)
    assert opened.mode == "RGB" and notes == ["CMYK image: converted to RGB."]
    assert np.asarray(opened)[0, 0].min() > 230  # white paper stays white
    p = pp.prepare(data, MNIST)
    assert p.notes == notes and close_to(reference, out_array(p))


def test_palette_png_with_transparency(reference):
    mask = np.asarray(strokes()) > 127
    im = Image.fromarray(mask.astype(np.uint8), mode="L").convert("P")  # index 0 paper, 1 ink
    im.putpalette([255, 0, 0] + [0, 0, 0] * 255)  # index 0 is red, but transparent
    data = encode(im, transparency=0)
    assert Image.open(io.BytesIO(data)).mode == "P"
    p = pp.prepare(data, MNIST)
    assert close_to(reference, out_array(p), tol=1.0)


def test_greyscale_png_with_transparent_colour(reference):
    data = encode(dark_on_light(strokes(), paper=90, ink=0), transparency=90)  # tRNS on an L image
    assert close_to(reference, out_array(pp.prepare(data, MNIST)), tol=1.0)


@pytest.mark.parametrize("ink", [(0, 0, 0), (20, 40, 200), (255, 255, 255), (250, 220, 90)],
                         ids=["black", "dark-blue", "white", "light-yellow"])
def test_rgba_strokes_on_transparent(reference, ink):
    """Dark strokes get a white background, light strokes a black one; either way the result
    is white strokes on black."""
    alpha = strokes()
    im = Image.new("RGBA", alpha.size, (0, 0, 0, 0))
    im.paste(Image.new("RGBA", alpha.size, (*ink, 255)), mask=alpha)
    p = pp.prepare(encode(im), MNIST)
    out = out_array(p)
    # coloured ink is less than full white in grayscale: compare shapes, not levels
    assert out.max() > 60 and np.corrcoef(reference.ravel(), out.ravel())[0, 1] > 0.95


def test_grey_with_alpha(reference):
    im = Image.merge("LA", (Image.new("L", (90, 120), 0), strokes()))
    assert close_to(reference, out_array(pp.prepare(encode(im), MNIST)), tol=1.0)


def test_animated_gif_uses_the_first_frame(reference):
    first = dark_on_light(strokes())
    others = [dark_on_light(strokes(box=(40, 5, 50, 115))), Image.new("L", (90, 120), 255)]
    data = encode(first, "GIF", save_all=True, append_images=others, duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    p = pp.prepare(data, MNIST)
    assert p.notes == [pp.ANIMATION]
    assert close_to(reference, out_array(p), tol=1.0)


def test_jpeg_exif_orientation_6_is_rotated():
    """Orientation 6: the camera stored the picture turned; the viewer rotates it 90° clockwise."""
    arr = np.full((40, 60), 255, dtype=np.uint8)
    arr[0:10, 0:20] = 0  # a dark block top-left in the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif.tobytes())
    opened = np.asarray(pp.open_image(data).convert("L"), dtype=np.float64)
    assert opened.shape == (60, 40)  # width and height swapped
    expected = np.rot90(arr, k=-1)  # clockwise: the block is now at the top right
    assert np.abs(opened - expected).mean() < 8
    assert opened[:20, 30:].mean() < 40 and opened[:20, :10].mean() > 215
    p = pp.prepare(data, MNIST)
    assert p.steps[0][1].shape[:2] == (60, 40)


@pytest.mark.parametrize("fmt,kw", [("BMP", {}), ("WEBP", {"lossless": True}), ("GIF", {}),
                                    ("JPEG", {"quality": 95}), ("PNG", {})])
def test_every_accepted_format(reference, fmt, kw):
    im = dark_on_light(strokes()).convert("RGB")
    assert close_to(reference, out_array(pp.prepare(encode(im, fmt, **kw), MNIST)), tol=3.0)


def test_bilevel_bmp(reference):
    im = dark_on_light(strokes()).convert("1")
    assert close_to(reference, out_array(pp.prepare(encode(im, "BMP"), MNIST)), tol=1.0)


def test_colour_model_gets_rgb():
    im = Image.new("RGB", (64, 48), (255, 0, 0))
    p = pp.prepare(encode(im), (3, 32, 32))
    assert p.tensor.shape == (1, 3, 32, 32)
    assert [c for c, _ in p.steps] == ["uploaded", "resized to 32x32"]
    assert torch.allclose(p.tensor[0, :, 16, 16], torch.tensor([1.0, 0.0, 0.0]))


def test_non_square_model_shape():
    p = pp.prepare(encode(dark_on_light(strokes())), (1, 28, 40), style="fit")
    assert p.tensor.shape == (1, 1, 28, 40)
    assert p.steps[-1][0] == "centred in 40x28"


def test_default_style():
    assert pp.default_style("mnist") == "mnist"
    assert pp.default_style("fashion-mnist") == "fit"
    assert pp.default_style("shapes") == "resize"
    assert pp.default_style("folder:/x") == "resize"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_corrupted_files_never_raise_anything_but_image_error(fmt):
    """Flip random bytes of a good file (seeded): each variant is either prepared or refused
    with ImageError; no other exception reaches the page."""
    good = encode(dark_on_light(strokes()).convert("RGB"), fmt)
    rng = np.random.default_rng(7)
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(60):
        data = bytearray(good)
        for pos in rng.integers(0, len(data), size=int(rng.integers(1, 8))):
            data[pos] = int(rng.integers(0, 256))
        if rng.random() < 0.3:
            data = data[: int(rng.integers(1, len(data)))]
        try:
            p = pp.prepare(bytes(data), MNIST)
            assert p.tensor.shape == (1, 1, 28, 28)
            outcomes["ok"] += 1
        except pp.ImageError as exc:
            assert str(exc).endswith(".")
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0
