"""AppTest: the latent pad on the Latent map page (ui/live.py, kind "pad").

AppTest cannot run the pad's JavaScript: the tests check the data the browser gets (points,
colours, extent, the plane-to-z basis) and send a click's pin as the browser does."""
import json

import numpy as np
from app_helpers import image_urls, open_app
from live_helpers import live_data, live_elements, trigger

from services import export

PAGE = "pages/latent_map.py"


def _spec(at) -> dict:
    (chart,) = at.get("plotly_chart")
    return json.loads(chart.proto.spec)


def _pinned_trace(at):
    return [t for t in _spec(at)["data"] if t.get("name") == "pinned (latent pad)"]


def test_pad_gets_the_points_and_the_plane_of_a_2d_model():
    at = open_app("mnist-2d", PAGE)
    pad = live_data(at, "pad")
    pts = pad["points"]
    assert 100 <= len(pts["x"]) <= 2000 and len(pts["x"]) == len(pts["y"]) == len(pts["c"])
    assert set(pts["c"]) <= set(range(10)) and len(set(pts["c"])) == 10
    assert len(pad["palette"]) == 10 and pad["axes"] == ["z0", "z1"] and pad["basis"] is None
    x0, x1, y0, y1 = pad["extent"]
    assert abs((x1 - x0) - (y1 - y0)) < 1e-9  # square, so the plane is not distorted
    inside = [(x0 <= x <= x1) and (y0 <= y <= y1) for x, y in zip(pts["x"], pts["y"])]
    assert np.mean(inside) > 0.98
    assert pad["pinned"] is None and pad["model"]
    assert not _pinned_trace(at)
    assert any("Nothing pinned yet" in c.value for c in at.caption)


def test_clicking_the_pad_pins_the_point_on_the_map_and_decodes_it():
    at = open_app("mnist-2d", PAGE)
    n_images = len(image_urls(at))
    trigger(at, "latent_pad", "pin", [0.5, -1.25])
    saved = at.session_state["latent_pad_z"]
    assert saved["plane"] == [0.5, -1.25] and saved["z"] == [0.5, -1.25]
    assert live_data(at, "pad")["pinned"] == [0.5, -1.25]
    (star,) = _pinned_trace(at)
    assert star["x"] == [0.5] and star["y"] == [-1.25]
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert "pinned: z0 = 0.50, z1 = -1.25" in captions
    assert len(image_urls(at)) == n_images + 1
    trigger(at, "latent_pad", "pin", ["a", None])  # malformed: ignored
    assert at.session_state["latent_pad_z"]["plane"] == [0.5, -1.25]
    next(b for b in at.button if b.label == "Unpin").click().run()
    assert not _pinned_trace(at) and len(image_urls(at)) == n_images


def test_pad_on_the_pca_plane_of_a_20d_model():
    at = open_app("mnist-20d", PAGE)
    pad = live_data(at, "pad")
    assert pad["axes"] == ["PC1", "PC2"]
    origin, axes = np.array(pad["basis"]["origin"]), np.array(pad["basis"]["axes"])
    assert origin.shape == (20,) and axes.shape == (2, 20)
    assert np.allclose(axes @ axes.T, np.eye(2), atol=1e-5)  # orthonormal principal axes
    rect = _spec(at)["layout"]["shapes"][0]  # the pad's dashed box is the map's: the same plane
    assert np.allclose(pad["box"], [rect[k] for k in ("x0", "x1", "y0", "y1")], atol=1e-6)
    trigger(at, "latent_pad", "pin", [1.0, -0.5])
    z = np.array(at.session_state["latent_pad_z"]["z"])
    assert np.allclose(z, origin + 1.0 * axes[0] - 0.5 * axes[1], atol=1e-5)
    (star,) = _pinned_trace(at)
    assert star["x"] == [1.0] and star["y"] == [-0.5]
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert "pinned: PC1 = 1.00, PC2 = -0.50" in captions
    assert any("PCA plane" in c.value and "PC1" in c.value for c in at.caption)


def test_server_side_pad_when_the_decoder_cannot_run_in_the_browser(monkeypatch):
    monkeypatch.setattr(export, "MAX_PARAMS", 1000)
    at = open_app("mnist-2d", PAGE)
    assert not live_elements(at)
    assert any("Live decoding is off for this model" in i.value for i in at.info)
    sliders = {s.label: s for s in at.slider if s.key in ("latent_pad_a", "latent_pad_b")}
    assert set(sliders) == {"z0", "z1"}
    sliders["z0"].set_value(1.2).run()
    assert not at.exception
    assert at.session_state["latent_pad_z"]["plane"] == [1.2, 0.0]
    (star,) = _pinned_trace(at)
    assert star["x"] == [1.2]
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert "pinned: z0 = 1.20, z1 = 0.00" in captions
