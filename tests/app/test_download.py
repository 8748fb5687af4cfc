"""AppTest: the Download page offers the model zip, the ONNX decoder and encoder and the latent
codes (CSV, NPZ) of the picked model, each with its size and how to load it."""
import csv
import io
import zipfile

import numpy as np
import onnx
import torch
from app_helpers import download_data, image_urls, open_app
from PIL import Image

from vae import checkpoint
from vae.config import ModelConfig
from vae.models import build_model
from vae.registry import load_dataset

LABELS = {"Download model (zip)": ".zip", "Download decoder (ONNX)": "-decoder.onnx",
          "Download encoder (ONNX)": "-encoder.onnx", "Download latent codes (CSV)": "-latents.csv",
          "Download latent codes (NPZ)": "-latents.npz"}


def _buttons(at) -> dict[str, object]:
    return {b.label: b for b in at.get("download_button")}


def _inputs(data: bytes) -> list[str]:
    return [i.name for i in onnx.load_from_string(data).graph.input]


def test_download_page_offers_every_file_of_mnist_2d(media):
    at = open_app("mnist-2d", "pages/download.py")
    assert at.header[0].value.startswith("Download")
    assert not at.error
    buttons = _buttons(at)
    assert sorted(buttons) == sorted(LABELS)
    captions = " ".join(c.value for c in at.caption)
    for label, suffix in LABELS.items():
        assert f"`mnist-2d{suffix}`" in captions, label
        assert buttons[label].proto.url, label
    assert "MB" in captions and "opset 17" in captions
    assert any("onnxruntime" in c.value for c in at.code) and any("allow_pickle=False" in c.value for c in at.code)
    assert any("camera button" in m.value for m in at.markdown)

    with zipfile.ZipFile(io.BytesIO(download_data(at, media, "Download model (zip)"))) as zf:
        assert sorted(zf.namelist()) == ["mnist-2d/README.md", "mnist-2d/config.json", "mnist-2d/metrics.json",
                                         "mnist-2d/model.safetensors"]
    assert _inputs(download_data(at, media, "Download decoder (ONNX)")) == ["z"]
    assert _inputs(download_data(at, media, "Download encoder (ONNX)")) == ["x"]
    rows = list(csv.reader(io.StringIO(download_data(at, media, "Download latent codes (CSV)").decode())))
    assert rows[0] == ["id", "label", "z0", "z1", "logvar0", "logvar1"]
    assert len(rows) - 1 == len(load_dataset("mnist", "test"))  # full MNIST, or the shipped 2,000-image sample
    with np.load(io.BytesIO(download_data(at, media, "Download latent codes (NPZ)")), allow_pickle=False) as npz:
        assert npz["mean"].shape == (len(rows) - 1, 2)
        assert npz["classes"].tolist() == [str(i) for i in range(10)]


def test_a_conditional_model_exports_with_its_label_input(media, tmp_path):
    model = build_model(ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32,)),
                        generator=torch.Generator().manual_seed(0))
    checkpoint.save(tmp_path / "user_models" / "tiny-cond", model, "mnist")
    at = open_app("tiny-cond", "pages/download.py")
    assert not at.error
    assert _inputs(download_data(at, media, "Download decoder (ONNX)")) == ["z", "label_onehot"]
    assert _inputs(download_data(at, media, "Download encoder (ONNX)")) == ["x", "label_onehot"]
    with zipfile.ZipFile(io.BytesIO(download_data(at, media, "Download model (zip)"))) as zf:
        assert sorted(zf.namelist()) == ["tiny-cond/config.json", "tiny-cond/model.safetensors"]
    assert any("label_onehot" in c.value for c in at.code)


def test_decode_page_offers_its_image_and_strip_as_png(media):
    at = open_app("mnist-2d", "pages/decode.py")
    assert not at.error
    buttons = _buttons(at)
    assert {"Download image as PNG", "Download strip as PNG"} <= set(buttons)
    image = Image.open(io.BytesIO(download_data(at, media, "Download image as PNG")))
    assert image.format == "PNG" and image.size == (336, 336)
    assert np.asarray(image).std() > 0, "the decoded digit, not a blank"
    strip = download_data(at, media, "Download strip as PNG")
    shown_images = [media[url.rsplit("/", 1)[-1].split(".")[0]] for url in image_urls(at)]
    assert strip in shown_images, "the strip downloads as the page shows it"
    assert Image.open(io.BytesIO(strip)).width > 9 * 28, "nine images side by side"
