"""AppTest: "Draw" as an input source (ui/draw.py) on Reconstruct and Morph.

AppTest cannot run the component's JavaScript: the tests read what the browser gets (the
component's data: preparation options, encoder and decoder for the browser, the small latent
plane) and send what it sends when the pen is lifted, the "drawing" state value (the prepared
28x28 pixels as base64), as the frontend does. The server must re-check that value and compute
the reconstruction, −ELBO and anomaly score itself; a tampered value gets a clear error.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from app_helpers import open_app, shown

from services import drawing
from services.catalog import SHIPPED_DIR
from ui import draw, state
from vae import explore
from vae.checkpoint import load, save
from vae.config import ModelConfig
from vae.models import build_model
from vae.registry import load_dataset

RECON = "pages/reconstruct.py"
KEY = "recon_draw"


def _elements(at) -> list:
    return [el for el in at.get("bidi_component") if el.proto.component_name == "vae_draw"]


def _data(at) -> dict[str, Any]:
    (el,) = _elements(at)
    return json.loads(el.proto.json)


def _release(at, key: str, value: Any):
    """Send the component's "drawing" state, as setStateValue("drawing", value) does on release."""
    states = at._tree.get_widget_states()
    (el,) = [el for el in _elements(at) if el.proto.id.endswith(f"-{key}")]
    for w in states.widgets:
        if w.id == el.proto.id:
            break
    else:
        w = states.widgets.add()
        w.id = el.proto.id
    w.json_value = json.dumps({"drawing": value})
    at._run(states)
    assert not at.exception, at.exception
    return at


def _digit(i: int = 0) -> np.ndarray:
    """A real MNIST test digit as (28, 28) uint8: what prep.js makes of a drawn one."""
    x = load_dataset("mnist", "test").float_images(slice(i, i + 1))[0, 0]
    return (x * 255).round().to(torch.uint8).numpy()


def _captions(at) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


def _draw_page(model: str = "mnist-2d"):
    at = open_app(model, RECON)
    at.radio(key="recon_source").set_value("Draw").run()
    assert not at.exception, at.exception
    return at


def test_draw_gives_the_browser_what_it_needs_to_reconstruct_while_drawing():
    at = _draw_page()
    data = _data(at)
    assert data["prep"] == {"height": 28, "width": 28, "style": "mnist", "invert": "auto"}
    assert data["canvas"] <= 256 and data["reason"] is None and data["label"] is None
    assert data["encoder"]["spec"]["format"] == "vae-latent-lab/encoder" and data["encoder"]["weights"]
    assert data["decoder"]["spec"]["format"] == "vae-latent-lab/decoder" and data["decoder"]["weights"]
    plane = data["plane"]
    assert plane["basis"] is None and plane["axes"] == ["z0", "z1"] and len(plane["points"]["x"]) == draw.PLANE_POINTS
    assert any("Draw a digit on the canvas" in i.value for i in at.info)
    assert not at.metric and not at.error
    at.selectbox(key="recon_style_mnist").set_value("fit").run()  # the page's options reach the browser
    at.radio(key="recon_invert").set_value("no").run()
    data = _data(at)
    assert data["prep"]["style"] == "fit" and data["prep"]["invert"] == "no"
    assert "weights" not in data["encoder"]  # inline weights travel once per session


def test_a_released_drawing_is_reconstructed_and_scored_on_the_server():
    at = _draw_page()
    img = _digit(0)
    _release(at, KEY, drawing.encode(img))
    assert not at.error, [e.value for e in at.error]
    assert _captions(at)[-2:] == ["model input", "reconstruction"]
    metrics = {m.label: m.value for m in at.metric}
    assert list(metrics) == ["−ELBO (nats)", "Anomaly score (nats)", "Anomaly score (percentile)"]
    # recomputed on the server from the released pixels: the same −ELBO as the library gives them
    x = torch.from_numpy(img)[None, None].float() / 255.0
    model = load(SHIPPED_DIR / "mnist-2d").model
    rec, kl = (float(t[0]) for t in explore.elbo_parts(model, x, state.generator(0)))
    assert float(metrics["−ELBO (nats)"]) == pytest.approx(rec + kl, abs=0.05)
    assert float(metrics["Anomaly score (percentile)"]) < 90  # a real digit is not unusual
    assert any(shown(c.value).startswith("Input: your drawing.") for c in at.caption)
    spec = json.loads([c for c in at.get("plotly_chart") if c.key == "recon_map"][0].proto.spec)
    assert "your image" in [t.get("name") for t in spec["data"]]
    _release(at, KEY, None)  # Clear
    assert not at.metric and any("Draw a digit on the canvas" in i.value for i in at.info)


@pytest.mark.parametrize(("value", "message"), [
    ({"pixels": "AAAA", "width": 28, "height": 28}, "The drawing has 3 pixel values; this model takes 784."),
    ({"pixels": [999] * 784, "width": 28, "height": 28},
     "The drawing's pixel values must be 0 to 255, not 999 to 999."),
    ({"pixels": "A" * 10**6, "width": 28, "height": 28}, "The drawing is too large (1,000,000 characters"),
    ({"pixels": drawing.encode(_digit())["pixels"], "width": 64, "height": 64},
     "The drawing is 64x64 pixels; this model takes 28x28."),
    ("<script>", "The drawing arrived in an unknown format."),
])
def test_a_tampered_drawing_gets_a_clear_error_and_no_result(value, message):
    at = _release(_draw_page(), KEY, value)
    assert len(at.error) == 1 and shown(at.error[0].value).startswith(message)
    assert not at.metric and "reconstruction" not in _captions(at)
    _release(at, KEY, drawing.encode(_digit()))  # a good drawing afterwards works
    assert not at.error and at.metric


def test_without_an_encoder_for_the_browser_the_server_reconstructs_on_release(monkeypatch):
    def refuse(model, max_params=None):
        raise draw.encoder_export.UnsupportedEncoder("a test refuses it")

    monkeypatch.setattr(draw.encoder_export, "export_encoder", refuse)
    draw.exported_encoder.clear()
    try:
        at = _draw_page()
        data = _data(at)
        assert data["encoder"] is None and data["decoder"] is None and data["plane"] is None
        assert "a test refuses it" in shown(data["reason"])
        assert any("Live reconstruction is off" in c.value and "from the server when you lift the pen" in c.value
                   for c in at.caption)
        _release(at, KEY, drawing.encode(_digit()))
        assert _captions(at)[-2:] == ["model input", "reconstruction"] and at.metric
    finally:
        draw.exported_encoder.clear()


def test_a_browser_failure_switches_to_the_server_with_its_message_escaped():
    at = _draw_page()
    states = at._tree.get_widget_states()
    (el,) = _elements(at)
    w = states.widgets.add()
    w.id = f"$$STREAMLIT_INTERNAL_KEY_{el.proto.id}__events"
    w.json_trigger_value = json.dumps([{"event": "failed", "value": "no *WebAssembly*\nhere [x](http://e)"}])
    at._run(states)
    assert not at.exception
    data = _data(at)
    assert data["encoder"] is None and "your browser could not run it" in data["reason"]
    assert "\\*WebAssembly\\*" in data["reason"] and "\n" not in data["reason"]


def test_a_pca_plane_for_a_20d_model():
    data = _data(_draw_page("mnist-20d"))
    basis = data["plane"]["basis"]
    assert len(basis["origin"]) == 20 and len(basis["axes"]) == 2 and len(basis["axes"][0]) == 20
    assert data["plane"]["axes"] == ["PC1", "PC2"]
    assert any(layer["op"] == "conv" for layer in data["encoder"]["spec"]["layers"])


def test_a_conditional_model_draws_as_the_class_the_user_says(tmp_path):
    cfg = ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32,))
    save(tmp_path / "user_models" / "tiny-cond", build_model(cfg, generator=torch.Generator().manual_seed(0)), "mnist")
    at = _draw_page("tiny-cond")
    assert _data(at)["label"] == 0 and _data(at)["encoder"]["spec"]["classes"] == 10
    at.button_group(key="recon_draw_class").set_value(7).run()
    assert _data(at)["label"] == 7
    _release(at, KEY, drawing.encode(_digit()))
    assert not at.error and at.metric
    assert any("Encoded and decoded as class 7" in c.value for c in at.caption)


def test_a_drawing_as_one_end_of_the_morph():
    at = open_app("mnist-2d", "pages/morph.py")
    at.radio(key="morph_b_source").set_value("Draw").run()
    assert not at.exception and any("this end of the morph follows" in i.value for i in at.info)
    assert _data(at)["prep"]["style"] == "mnist"
    _release(at, "morph_b_draw", drawing.encode(_digit(1)))
    assert not at.error
    assert any(shown(c.value).endswith("End: your drawing.") for c in at.caption)
    assert "end (original)" in _captions(at)
