"""AppTest: a class-conditional model in the app (ui/inputs.class_picker on every page that decodes).

The picker shows only for a conditional model. It sets the class the decoder draws; z stays
where it was. A tiny conditional model with random weights (saved into the user-models folder
the app fixture lists) is enough: any two classes decode the same z to different pixels. The
library calls are spied on to check which labels reach them.
"""
from __future__ import annotations

import io
import json
import re

import pytest
import torch
from app_helpers import download_data, image_urls, open_app
from live_helpers import live_data, live_elements, set_state, trigger
from PIL import Image, ImageDraw

from services import export
from ui import state
from vae import explore
from vae.checkpoint import save
from vae.config import ModelConfig
from vae.models import build_model

NAME = "tiny-cond"
SLIDERS, VIEW, ROW = "decode_live_sliders", "decode_live_view", "decode_live_classes"


@pytest.fixture
def cond(tmp_path) -> str:
    """A tiny conditional MLP VAE on MNIST's ten digits, listed as a user model."""
    cfg = ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32,))
    save(tmp_path / "user_models" / NAME, build_model(cfg, generator=torch.Generator().manual_seed(0)), "mnist")
    return NAME


@pytest.fixture
def spied(monkeypatch) -> dict[str, list]:
    """name -> the label arguments of each call of these library functions."""
    calls: dict[str, list] = {}

    def wrap(name: str, arg: str) -> None:
        real = getattr(explore, name)

        def spy(*args, **kwargs):
            value = kwargs.get(arg)
            calls.setdefault(name, []).append(value.tolist() if isinstance(value, torch.Tensor) else value)
            return real(*args, **kwargs)
        monkeypatch.setattr(explore, name, spy)

    for name, arg in (("encode_images", "labels"), ("reconstruct", "labels"), ("sample_prior", "label"),
                      ("manifold", "label"), ("decode", "labels")):
        wrap(name, arg)
    return calls


def _picker(at, key: str):
    return at.button_group(key=key)


def _pickers(at) -> list:
    return list(at.get("button_group"))


def _captions(at) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


def _url(at, caption_start: str) -> str:
    found = [img.url for el in at.get("image") for img in el.proto.imgs if img.caption.startswith(caption_start)]
    assert len(found) == 1, (caption_start, _captions(at))
    return found[0]


def _view(at, key: str) -> dict:
    """The data of the live component with ``key`` (Decode has two views: the image and the classes row)."""
    (el,) = [el for el in live_elements(at) if el.proto.id.endswith(f"-{key}")]
    return json.loads(el.proto.json)


def _errors(at) -> str:
    return " ".join(e.value for e in at.error)


@pytest.mark.parametrize("page", ["decode", "generate", "morph", "reconstruct", "latent_map"])
def test_no_class_picker_for_an_unconditional_model(page):
    at = open_app("mnist-2d", f"pages/{page}.py")
    assert not _pickers(at)
    if page == "decode":
        assert _view(at, VIEW)["label"] is None


def test_decode_shows_the_picker_and_the_classes_row(cond):
    at = open_app(cond, "pages/decode.py")
    picker = _picker(at, "decode_class")
    assert picker.options == [str(d) for d in range(10)] and picker.value == 0
    view, row = _view(at, VIEW), _view(at, ROW)
    assert view["label"] == 0 and row["model"] == view["model"]
    trigger(at, VIEW, "need", view["model"])  # the weights again, as a browser that lacks them asks
    assert _view(at, VIEW)["decoder"]["spec"]["classes"] == 10
    assert row["labels"] == list(range(10)) and row["channel"] == view["channel"]  # it follows the same sliders
    assert row["caption"].startswith("the same z as every class (0 to 9)")
    assert any("This model is conditional" in m.value and "style" in m.value for m in at.markdown)


def test_changing_the_class_redraws_the_same_z(cond):
    at = open_app(cond, "pages/decode.py")
    set_state(at, SLIDERS, z=[1.25, -0.5])  # a released slider: the browser's z
    rev, row = _view(at, VIEW)["rev"], _view(at, ROW)
    strip = _url(at, "z")
    _picker(at, "decode_class").set_value(3).run()
    assert not at.exception
    view, sliders = _view(at, VIEW), live_data(at, "sliders")
    assert view["label"] == 3
    assert view["z"] == sliders["z"] == [1.25, -0.5] and view["rev"] == sliders["rev"] == rev  # no new z
    assert _url(at, "z") != strip  # the traversal strip is drawn as the new class
    assert _view(at, ROW) == {**row, "decoder": None}  # every class already: the same row


def test_decode_on_the_server_draws_the_chosen_class(cond, monkeypatch):
    monkeypatch.setattr(export, "MAX_PARAMS", 100)  # too big for the browser: decoded on the server
    at = open_app(cond, "pages/decode.py")
    assert not live_elements(at)
    at.slider[0].set_value(1.5).run()
    before, values = _url(at, "decoded image"), [s.value for s in at.slider]
    row = _url(at, "the same z as every class")
    _picker(at, "decode_class").set_value(7).run()
    assert not at.exception
    assert _url(at, "decoded image") != before
    assert [s.value for s in at.slider] == values
    assert _url(at, "the same z as every class") == row


def test_encoding_a_test_image_uses_its_label_and_picks_its_class(cond, spied):
    at = open_app(cond, "pages/decode.py")
    at.number_input(key="decode_index").set_value(3).run()
    next(b for b in at.button if b.label == "Encode it").click().run()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Started from encoded test image"))
    label = int(re.search(r"\((\d)\)\.$", caption)[1])  # MNIST's class names are the digits
    assert spied["encode_images"][-1] == label
    assert _picker(at, "decode_class").value == label and _view(at, VIEW)["label"] == label


def test_a_tampered_class_falls_back_with_a_message(cond):
    at = open_app(cond, "pages/decode.py")
    _picker(at, "decode_class").set_value(4).run()
    _picker(at, "decode_class").set_value(None).run()  # nothing chosen: the pills' own UI cannot send that
    assert not at.exception
    assert "No class chosen, or one this model does not know" in _errors(at)
    assert _view(at, VIEW)["label"] == 4  # the last valid class
    _picker(at, "decode_class").set_value(42).run()  # an unknown class: Streamlit keeps the session's value
    assert not at.exception
    assert _view(at, VIEW)["label"] == 4
    _picker(at, "decode_class").set_value(6).run()  # honest values work again
    assert _view(at, VIEW)["label"] == 6 and not at.error


def test_generate_draws_the_class_and_every_class_as_rows(cond, spied, media):
    at = open_app(cond, "pages/generate.py")
    assert _picker(at, "generate_class").options[-1] == "every class"
    first = image_urls(at)
    assert spied["sample_prior"] == [0]
    _picker(at, "generate_class").set_value(5).run()
    assert image_urls(at) != first and spied["sample_prior"][-1] == 5
    assert "64 samples of class 5" in _captions(at)[0]
    _picker(at, "generate_class").set_value("all").run()
    assert not at.exception
    assert spied["sample_prior"][-10:] == list(range(10))  # one row per class, each from the same seed
    grid = Image.open(io.BytesIO(download_data(at, media, "Download grid as PNG")))
    assert grid.size == (4 * (8 * 30 + 2), 4 * (10 * 30 + 2))  # 8 columns, 10 rows of 28 px + 2 px gutters
    assert "one row per class" in _captions(at)[0]


def test_morph_encodes_the_ends_as_their_labels_and_draws_the_chosen_class(cond, spied):
    at = open_app(cond, "pages/morph.py")
    ends = next(re.fullmatch(r"Start: test image #\d+ \((\d)\)\. End: test image #\d+ \((\d)\)\..*", c.value)
                for c in at.caption if c.value.startswith("Start:"))
    start, end = int(ends[1]), int(ends[2])
    assert spied["encode_images"][-1] == [start, end]  # each end as its own label
    picker = _picker(at, "morph_class")
    assert picker.value == start  # drawn as the start's class at first
    before = image_urls(at)
    other = (start + 1) % 10
    picker.set_value(other).run()
    assert not at.exception
    after = image_urls(at)
    assert after[0] == before[0] and after[2] == before[2]  # the originals stay
    assert after[1] != before[1]  # the strip follows the class...
    assert live_data(at, "path")["label"] == other  # ...and so does the image at t (the live path)
    assert spied["decode"][-1] == other
    assert any(f"Every step drawn as class {other}." in c.value for c in at.caption)


def test_reconstruct_a_test_image_with_its_label_and_an_upload_with_the_chosen_class(cond, spied):
    at = open_app(cond, "pages/reconstruct.py")
    at.radio(key="recon_source").set_value("Try a test image").run()
    assert not _pickers(at)  # a test image has its own label
    caption = next(c.value for c in at.caption if c.value.startswith("Input: test image"))
    label = int(re.search(r"\((\d)\)\.", caption)[1])
    assert f"Encoded and decoded as class {label}." in caption
    assert spied["reconstruct"][-1] == label
    at.radio(key="recon_source").set_value("Upload a file").run()
    digit = Image.new("L", (120, 160), 245)
    ImageDraw.Draw(digit).line([(25, 30), (95, 30), (55, 135)], fill=15, width=12)  # a dark "7" on paper
    buf = io.BytesIO()
    digit.save(buf, format="PNG")
    at.file_uploader(key="recon_upload").set_value(("seven.png", buf.getvalue(), "image/png")).run()
    assert not at.exception
    assert _picker(at, "recon_class").value == 0
    before = _url(at, "reconstruction")
    _picker(at, "recon_class").set_value(7).run()
    assert not at.exception
    assert _url(at, "reconstruction") != before and spied["reconstruct"][-1] == 7
    assert any("Encoded and decoded as class 7." in c.value for c in at.caption)


def test_latent_map_pad_pin_grid_and_selection_use_classes(cond, spied):
    at = open_app(cond, "pages/latent_map.py")
    assert live_data(at, "pad")["label"] == 0
    grid = _url(at, "z0 grows left to right")
    _picker(at, "latent_grid_class").set_value(2).run()
    assert _url(at, "z0 grows left to right") != grid and spied["manifold"][-1] == 2
    assert "every one drawn as class 2" in _captions(at)[-1]
    trigger(at, "latent_pad", "pin", [0.5, -0.5])
    pinned = _url(at, "pinned: z0")
    _picker(at, "latent_pad_class").set_value(8).run()
    assert not at.exception
    assert live_data(at, "pad")["label"] == 8 and live_data(at, "pad")["pinned"] == [0.5, -0.5]
    assert _url(at, "pinned: z0") != pinned and spied["decode"][-1] == 8
    ids = [int(i) for i in state.load_data("mnist").ids[:2]]
    at.session_state["latent_map_selected"] = (at.session_state["model_path"], ids)
    at.run()
    assert not at.exception
    assert spied["reconstruct"][-1] is not None and len(spied["reconstruct"][-1]) == 2  # their own labels
