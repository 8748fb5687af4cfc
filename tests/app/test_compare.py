"""AppTest: the Compare page (pages/compare.py, ui/compare_view.py), driven as a user would,
and as a tampered browser would."""
from __future__ import annotations

import re

import pytest
import torch
from app_helpers import image_urls, open_app, shown

from ui.compare_view import KEYS, SECOND_MODEL
from vae.checkpoint import save
from vae.config import ModelConfig
from vae.models import build_model

PAGE = "pages/compare.py"
SECTIONS = ["The same input, reconstructed by both", "The same morph through both",
            "Prior samples with the same seed", "−ELBO and KL per dimension", "What differs"]


def _open(model: str = "mnist-2d"):
    return open_app(model, PAGE)


def _captions(at) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


def _url(at, caption: str) -> str:
    found = [img.url for el in at.get("image") for img in el.proto.imgs if img.caption == caption]
    assert len(found) == 1, (caption, _captions(at))
    return found[0]


def _input_caption(at) -> str:
    (caption,) = [c.value for c in at.caption if c.value.startswith("Input: ")]
    return caption


def _sentence(at) -> str:
    (info,) = [shown(i.value) for i in at.info if "dimension" in i.value]
    return info


def _save(root, name: str, cfg: ModelConfig, dataset: str = "mnist") -> str:
    save(root / "user_models" / name, build_model(cfg, generator=torch.Generator().manual_seed(0)), dataset)
    return name


def test_the_default_pair_renders_every_section():
    at = _open()
    assert at.header[0].value.startswith("Compare")
    assert not at.exception and not at.error
    assert at.selectbox(key=KEYS[0]).value == "mnist-2d"
    assert at.selectbox(key=KEYS[1]).value == SECOND_MODEL
    assert [s.value for s in at.subheader] == SECTIONS
    assert len(at.expander) == 1 + len(SECTIONS)  # a "What am I seeing?" note for the page and each section
    captions = _captions(at)
    for name in ("mnist-2d", SECOND_MODEL):
        assert f"reconstructed by {name}" in captions
        assert f"8 steps, t = 0 … 1, decoded by {name}" in captions
    assert captions.count("16 samples, z ~ N(0, 1.00² I), seed 0") == 2
    assert len([m for m in at.metric if m.label == "−ELBO of this image (nats)"]) == 2
    assert len(at.get("plotly_chart")) == 2  # −ELBO bars and KL per dimension
    sentence = _sentence(at)
    assert "mnist-2d (β = 1, 2-D) uses both its dimensions" in sentence
    assert f"{SECOND_MODEL} (β = 4, 10-D) switched off" in sentence
    assert "prior samples" in sentence
    assert any("Numbers of mnist-2d: metrics.json (10,000 test images)" in shown(c.value) for c in at.caption)


def test_the_test_image_index_changes_both_reconstructions():
    at = _open()
    before = [_url(at, f"reconstructed by {n}") for n in ("mnist-2d", SECOND_MODEL)]
    first = _input_caption(at)
    at.number_input(key="compare_index").set_value(5).run()
    assert not at.exception
    after = [_url(at, f"reconstructed by {n}") for n in ("mnist-2d", SECOND_MODEL)]
    assert before[0] != after[0] and before[1] != after[1]
    assert _input_caption(at) != first


def test_switching_the_second_model_to_mnist_20d():
    at = _open()
    samples_before = image_urls(at)
    at.selectbox(key=KEYS[1]).set_value("mnist-20d").run()
    assert not at.exception and not at.error
    assert "reconstructed by mnist-20d" in _captions(at)
    assert image_urls(at) != samples_before
    sentence = _sentence(at)
    assert "mnist-20d (β = 1, 20-D) switched off 4 of its 20 dimensions" in sentence  # its metrics.json: 16 active
    assert "mnist-20d reconstructs more faithfully" in sentence


def test_a_model_without_metrics_gets_its_numbers_computed(tmp_path):
    name = _save(tmp_path, "tiny-mlp", ModelConfig(arch="mlp", latent_dim=3, hidden=(16,)))
    at = _open()
    at.selectbox(key=KEYS[1]).set_value(name).run()
    assert not at.exception and not at.error
    assert any("Numbers of tiny-mlp: computed on the first 2,000 test images (no metrics.json)" in shown(c.value)
               for c in at.caption)
    assert "tiny-mlp (β = 1, 3-D)" in _sentence(at)


def test_models_with_different_image_shapes_get_a_clear_message(tmp_path):
    name = _save(tmp_path, "tiny-32px", ModelConfig(arch="mlp", height=32, width=32, latent_dim=2, hidden=(16,)),
                 dataset="shapes-64")
    at = _open()
    at.selectbox(key=KEYS[1]).set_value(name).run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert "different shapes (mnist-2d: 1×28×28, tiny-32px: 1×32×32" in shown(error)
    assert "Pick two models with the same image shape" in error
    assert not at.subheader  # nothing drawn for a pair that cannot be compared


@pytest.mark.parametrize("tampered", ["../../etc/passwd", "no-such-model", ""])
def test_a_tampered_model_name_is_rejected(tampered):
    at = _open()
    picker = at.selectbox(key=KEYS[1])
    states = at._tree.get_widget_states()
    (state,) = [w for w in states.widgets if w.id == picker.id]
    state.string_value = tampered  # what a tampered browser sends instead of an option
    at._run(states)
    assert not at.exception
    if tampered:
        (error,) = [shown(e.value) for e in at.error]
        assert f"There is no model “{tampered}” to compare; showing {SECOND_MODEL}." in error
    assert at.selectbox(key=KEYS[1]).value == SECOND_MODEL
    assert "reconstructed by " + SECOND_MODEL in _captions(at)
    assert "/etc" not in " ".join(_captions(at))


def test_a_conditional_model_gets_a_class_picker(tmp_path):
    name = _save(tmp_path, "tiny-cond", ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32,)))
    at = _open()
    assert not list(at.get("button_group"))  # two unconditional models: no class picker
    at.selectbox(key=KEYS[1]).set_value(name).run()
    assert not at.exception and not at.error
    (picker,) = list(at.get("button_group"))
    assert picker.key == "compare_class_1" and picker.value == 0
    assert "16 samples of class 0, z ~ N(0, 1.00² I), seed 0" in _captions(at)
    grid = _url(at, "16 samples of class 0, z ~ N(0, 1.00² I), seed 0")
    at.button_group(key="compare_class_1").set_value(3).run()
    assert not at.exception
    assert _url(at, "16 samples of class 3, z ~ N(0, 1.00² I), seed 0") != grid
    assert "8 steps, t = 0 … 1, decoded by tiny-cond, drawn as class 3" in _captions(at)
    # the test image is encoded and decoded as its own class, whatever the picker says
    own = re.fullmatch(r"Input: test image #\d+ \((\d)\)\.", _input_caption(at))[1]
    assert any(c.value.endswith(f"encoded and decoded as class {own}") for c in at.caption)
    assert any("tiny-cond is conditional: its numbers are those of −log p(x|y)" in shown(c.value) for c in at.caption)


def test_a_drawing_is_reconstructed_by_both_models():
    import json

    from services import drawing
    from vae.registry import load_dataset

    at = _open()
    at.radio(key="compare_source").set_value("Draw").run()
    assert not at.exception, at.exception
    assert any("Draw a digit" in i.value for i in at.info)  # nothing drawn yet
    (el,) = [e for e in at.get("bidi_component") if e.proto.component_name == "vae_draw"]
    digit = (load_dataset("mnist", "test").float_images(slice(0, 1))[0, 0] * 255).round().to(torch.uint8).numpy()
    states = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = el.proto.id
    w.json_value = json.dumps({"drawing": drawing.encode(digit)})  # what the canvas sends on release
    at._run(states)
    assert not at.exception, at.exception
    assert _input_caption(at).startswith("Input: your drawing")
    assert all(_url(at, f"reconstructed by {n}") for n in ("mnist-2d", SECOND_MODEL))
