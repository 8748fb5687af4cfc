"""AppTest: the Diagnostics page for a model with a card (mnist-2d), for shapes (disentanglement
numbers and the factor heat map) and for a model without metrics.json (numbers computed)."""
import json
import re

import torch
from app_helpers import image_urls, open_app

from vae import checkpoint
from vae.config import ModelConfig
from vae.models import build_model

PAGE = "pages/diagnostics.py"
METRICS = ("MIG", "SAP", "DCI disentanglement", "DCI completeness", "DCI informativeness")


def _charts(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _types(at) -> list[str]:
    return [chart["data"][0]["type"] for chart in _charts(at)]


def _captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def _metrics(at) -> dict[str, float]:
    return {m.label: float(m.value) for m in at.metric}


def test_mnist_2d_card_numbers_and_worst_images():
    at = open_app("mnist-2d", PAGE)
    assert at.header[0].value.startswith("Diagnostics")
    assert not at.error
    assert _types(at) == ["bar", "bar", "bar", "histogram"]  # KL, activity, bounds, errors; no heat map
    kl, activity = _charts(at)[:2]
    assert len(kl["data"][0]["x"]) == 2 and len(activity["data"][0]["x"]) == 2
    captions = _captions(at)
    assert "from the model's card (metrics.json)" in captions and "2 of 2" in captions
    assert "no known factors" in captions
    assert not at.metric
    assert len(image_urls(at)) == 1  # the worst images above their reconstructions
    assert len(re.findall(r"#\d+ \(\d+ nats\)", at.get("image")[0].proto.imgs[0].caption)) == 8
    assert len(at.expander) == 4  # the page's note and one per figure group (no factors here)


def test_shapes_shows_disentanglement_and_the_heat_map():
    at = open_app("shapes", PAGE)
    assert not at.error
    assert _types(at) == ["bar", "bar", "bar", "histogram", "heatmap"]
    heat = _charts(at)[-1]["data"][0]
    assert len(heat["z"]) == 7 and all(len(row) == 5 for row in heat["z"])  # 7 latents x 5 factors
    assert heat["x"] == ["shape", "scale", "rotation", "x", "y"]
    values = _metrics(at)
    assert set(values) == set(METRICS)
    assert all(0.0 <= v <= 1.0 for v in values.values()), values
    assert values["DCI informativeness"] > 0.2  # the shipped model does encode the factors
    assert "10 equal-width bins" in _captions(at)
    assert len(at.expander) == 5  # the page's note, one per figure group, the factors' note


def test_model_without_metrics_json_is_measured_on_the_page(tmp_path):
    cfg = ModelConfig(latent_dim=3, hidden=(32,))
    model = build_model(cfg, generator=torch.Generator().manual_seed(0))
    path = checkpoint.save(tmp_path / "user_models" / "bare-shapes", model, "shapes")
    assert not (path / "metrics.json").exists()
    at = open_app("bare-shapes", PAGE)
    assert not at.error, [e.value for e in at.error]
    captions = _captions(at)
    assert "computed here on 2000 test images" in captions  # KL and activity over the test split
    assert "computed here on 500 test images" in captions  # the IWAE bound on the first 500
    assert _types(at) == ["bar", "bar", "bar", "histogram", "heatmap"]
    assert len(_charts(at)[0]["data"][0]["x"]) == 3
    assert set(_metrics(at)) == set(METRICS)


def test_class_conditional_model_renders(tmp_path):
    cfg = ModelConfig(arch="cmlp", num_classes=3, latent_dim=2, hidden=(32,))  # conditioned on the shape
    model = build_model(cfg, generator=torch.Generator().manual_seed(0))
    checkpoint.save(tmp_path / "user_models" / "cond-shapes", model, "shapes")
    at = open_app("cond-shapes", PAGE)
    assert not at.error, [e.value for e in at.error]
    assert _types(at) == ["bar", "bar", "bar", "histogram", "heatmap"]
    assert len(image_urls(at)) == 1 and set(_metrics(at)) == set(METRICS)
