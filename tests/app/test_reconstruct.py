"""AppTest: the Reconstruct page, driven as a user would: a test image, uploads (AppTest in
Streamlit 1.67 drives st.file_uploader), bad files, options and models."""
from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from app_helpers import open_app, shown
from PIL import Image, ImageDraw

from services import preprocess
from ui import figures
from vae import explore
from vae.checkpoint import load, save
from vae.config import ModelConfig
from vae.models import build_model
from vae.plane import LatentPlane
from vae.registry import load_dataset

ROOT = Path(__file__).resolve().parents[2]

MNIST_STEPS = ["uploaded", "grayscale", "cropped to content", "fit into 20x20", "centred by mass in 28x28"]


def _app(model: str = "mnist-2d"):
    return open_app(model, "pages/reconstruct.py")


def _png(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _digit(paper: int = 245, ink: int = 15) -> Image.Image:
    """A hand-drawn-looking '7': dark ink on light paper, as a phone photo of paper would be."""
    im = Image.new("L", (120, 160), paper)
    d = ImageDraw.Draw(im)
    d.line([(25, 30), (95, 30), (55, 135)], fill=ink, width=12)
    return im


def _captions(at) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _upload(at, name: str, data: bytes, mime: str = "image/png"):
    at.file_uploader(key="recon_upload").set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def _try_test_image(at, index: int = 0):
    at.radio(key="recon_source").set_value("Try a test image").run()
    at.number_input(key="recon_index").set_value(index).run()
    assert not at.exception, at.exception
    return at


def _assert_result(at) -> tuple[float, float]:
    """The reconstruction, −ELBO and the anomaly score with its percentile are shown; returns
    (anomaly score, percentile)."""
    assert not at.error, [e.value for e in at.error]
    caps = _captions(at)
    assert caps[-2:] == ["model input", "reconstruction"]
    metrics = _metrics(at)
    assert list(metrics) == ["−ELBO (nats)", "Anomaly score (nats)", "Anomaly score (percentile)"]
    neg_elbo, score = float(metrics["−ELBO (nats)"]), float(metrics["Anomaly score (nats)"])
    pct = float(metrics["Anomaly score (percentile)"])
    assert neg_elbo > 0 and 0 <= score <= neg_elbo + 0.05 and 0 <= pct <= 100
    assert any(f"Higher than {pct:.1f}% of 2000 test images' anomaly scores" in c.value for c in at.caption)
    return score, pct


def test_page_opens_asking_for_a_file():
    at = _app()
    assert at.header[0].value.startswith("Reconstruct")
    assert at.expander[0].label == "What am I seeing?"
    note = at.expander[0].markdown[0].value
    assert "−ELBO" in note and "percentile" in note and "anomaly score" in note and "Nalisnick" in note
    assert at.file_uploader(key="recon_upload").allowed_type == [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"]
    assert "Upload an image" in at.info[0].value
    assert not at.metric and not at.error


def test_try_a_test_image_shows_steps_reconstruction_and_scores():
    at = _try_test_image(_app(), 3)
    assert _captions(at)[:5] == MNIST_STEPS
    score, pct = _assert_result(at)
    assert any(c.value.startswith("Input: test image #") for c in at.caption)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)  # the anomaly scores' histogram
    assert chart["layout"]["shapes"][0]["x0"] == pytest.approx(score, abs=0.05)
    assert chart["layout"]["xaxis"]["title"]["text"] == "anomaly score (nats per image)"
    # 2-D model: the image is marked on the latent map
    latent_map = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert "your image" in [t.get("name") for t in latent_map["data"]]
    before = _metrics(at)
    at.number_input(key="recon_index").set_value(4).run()
    assert _metrics(at) != before


def test_upload_a_drawn_digit():
    at = _upload(_app(), "seven.png", _png(_digit()))
    caps = _captions(at)
    assert caps[:3] == ["uploaded", "grayscale", "inverted (light background)"]
    assert "centred by mass in 28x28" in caps
    _assert_result(at)
    assert any(shown(c.value) == "Input: your file seven.png." for c in at.caption)


def test_noise_scores_as_an_anomaly():
    """Random noise is nothing like a digit: its percentile is near the top and above a test image's."""
    noise = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    at = _app()
    at.selectbox(key="recon_style_mnist").set_value("resize")
    at.radio(key="recon_invert").set_value("no")
    _, noise_pct = _assert_result(_upload(at, "noise.png", _png(Image.fromarray(noise))))
    _, digit_pct = _assert_result(_try_test_image(at, 0))
    assert noise_pct > 95 and noise_pct > digit_pct


def _ihdr(png: bytes, w: int, h: int) -> bytes:
    body = struct.pack(">II", w, h) + png[24:29]
    return png[:16] + body + struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF) + png[33:]


BAD_FILES = [
    ("notes.png", b"this is a text file with a .png name\n", "This file is not an image that can be read "
     "(use PNG, JPEG, WebP, BMP or GIF)."),
    ("empty.png", b"", "The file is empty (0 bytes)."),
    ("bomb.png", _ihdr(_png(Image.new("L", (8, 8))), 20_000, 20_000),
     "The image declares more than 16 megapixels (a possible decompression bomb), so it was not opened."),
    ("line.png", _png(Image.new("L", (10_000, 1))), "The image is 10000x1 pixels; the limit is 8000 pixels per side."),
    ("white.png", _png(Image.new("L", (64, 64), 255)),
     "The image looks blank: it has no visible strokes or shapes, so there is nothing to crop to."),
]


def test_bad_uploads_get_a_specific_error_and_no_traceback():
    at = _app()
    for name, data, message in BAD_FILES:
        _upload(at, name, data)
        assert [e.value for e in at.error] == [message], name
        assert not at.metric and "reconstruction" not in _captions(at)
    truncated = _png(_digit())
    _upload(at, "half.png", truncated[: len(truncated) // 2])
    assert at.error[0].value.startswith("The image data is damaged or truncated (")
    _upload(at, "seven.png", _png(_digit()))  # a good file afterwards works again
    _assert_result(at)


def test_odd_files_show_notes():
    at = _app()
    frames = [_digit(), Image.new("L", (120, 160), 255), _digit(ink=100)]
    _upload(at, "anim.gif", _png(frames[0], "GIF", save_all=True, append_images=frames[1:]), "image/gif")
    assert [i.value for i in at.info] == ["This file is an animation (or holds several pictures): "
                                          "the first frame is used."]
    _assert_result(at)
    _upload(at, "cmyk.jpg", _png(_digit().convert("CMYK"), "JPEG"), "image/jpeg")
    assert [i.value for i in at.info] == ["CMYK image: converted to RGB."]
    _assert_result(at)


def test_options_change_the_steps():
    at = _upload(_app(), "seven.png", _png(_digit()))
    at.selectbox(key="recon_style_mnist").set_value("resize").run()
    assert _captions(at)[:4] == ["uploaded", "grayscale", "inverted (light background)", "resized to 28x28"]
    at.radio(key="recon_invert").set_value("no").run()
    assert not any("inverted" in c for c in _captions(at))
    _assert_result(at)


@pytest.mark.parametrize("model,dataset,style", [("fashion-2d", "fashion-mnist", "fit"),
                                                 ("shapes", "shapes", "resize"), ("mnist-20d", "mnist", "mnist")])
def test_default_style_follows_the_dataset(model, dataset, style):
    at = _try_test_image(_app(model), 1)
    assert at.selectbox(key=f"recon_style_{dataset}").value == style
    _assert_result(at)
    assert len(at.get("plotly_chart")) == 2  # the scores' histogram and the latent map, for any D >= 2


def _map(at) -> tuple[dict[str, dict], dict]:
    """The "where it lands" map: its traces by name (the scatter's by class name) and its layout."""
    (chart,) = [c for c in at.get("plotly_chart") if c.key == "recon_map"]
    spec = json.loads(chart.proto.spec)
    return {t.get("name"): t for t in spec["data"]}, spec["layout"]


def _array(value) -> np.ndarray:
    """A Plotly JSON array: a plain list or a typed array {"dtype", "bdata"} (base64)."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def _expected_on_pca_plane(model: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the page should put test image ``index`` of ``model``'s dataset, computed here from the
    library: the PCA plane of the encoded test set and the prepared image's projected posterior."""
    ckpt = load(ROOT / "models" / model)
    data = load_dataset(ckpt.dataset, "test")
    plane = LatentPlane.fit(explore.encode_dataset(ckpt.model, data).mean)
    raw = figures.png_bytes(figures.to_uint8(data.float_images(slice(index, index + 1))[0]))
    x = preprocess.prepare(raw, (1, 28, 28), style="mnist", invert="auto").tensor
    mean, std = explore.encode_images(ckpt.model, x)
    point, cov = plane.project(mean[0], std[0])
    return point.numpy(), cov.numpy()


def test_a_20d_model_lands_on_the_pca_plane_of_the_latent_map():
    at = _try_test_image(_app("mnist-20d"), 5)
    _assert_result(at)
    assert any(s.value == "Where it lands on the latent map" for s in at.subheader)
    traces, layout = _map(at)
    assert re.fullmatch(r"PC1 \(\d+\.\d% of variance\)", layout["xaxis"]["title"]["text"])
    assert {"your image", "posterior ±2σ (projected)"} <= set(traces)
    assert sum(t["type"] == "scattergl" for t in traces.values()) == 10  # one trace per digit
    point, cov = _expected_on_pca_plane("mnist-20d", 5)
    marker = traces["your image"]
    assert marker["x"][0] == pytest.approx(point[0], abs=1e-4) and marker["y"][0] == pytest.approx(point[1], abs=1e-4)
    ring = np.stack([_array(traces["posterior ±2σ (projected)"][a]) for a in ("x", "y")], axis=1) - point
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", ring, np.linalg.inv(cov), ring), 4.0, rtol=1e-3)
    assert any("projected onto the PCA plane" in c.value for c in at.caption)
    assert any(c.value.startswith("Explained variance of the latent means: PC1") for c in at.caption)


def test_a_1d_model_says_why_there_is_no_map(tmp_path):
    model = build_model(ModelConfig(arch="mlp", latent_dim=1, hidden=(16,)), generator=torch.Generator().manual_seed(0))
    save(tmp_path / "user_models" / "tiny-1d", model, "mnist")  # the folder the app fixture lists
    at = _try_test_image(_app("tiny-1d"), 0)
    _assert_result(at)
    assert any(s.value == "Where it lands on the latent map" for s in at.subheader)
    assert len(at.get("plotly_chart")) == 1  # the scores' histogram only
    assert any(c.value.startswith("No latent map for this model: it has 1 latent dimension") for c in at.caption)


def test_an_uploaded_file_name_is_shown_as_plain_text():
    """A file name is the uploader's text: it must not become a link, HTML or formatting."""
    name = "**big** [click](http://evil.example) <img src=x>.png"
    at = _upload(_app(), name, _png(_digit()))
    caption = next(c.value for c in at.caption if c.value.startswith("Input: your file"))
    assert not re.search(r"(?<!\\)[\[\]()<>*]", caption)  # every Markdown/HTML character is escaped
    assert shown(caption) == f"Input: your file {name}."  # and the reader sees the name as it is
