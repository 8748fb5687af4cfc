"""AppTest: the Latent map page, driven as a user would.

AppTest has no Plotly element (the chart is an UnknownElement) and ignores st.session_state
writes to a chart's selection, so a click or box selection is sent the way the browser sends
it: a WidgetState for the chart's element id holding the selection JSON, in the same run
request as every other widget's state.
"""
import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from app_helpers import image_urls, open_app, shown

PAGE = "pages/latent_map.py"
ROOT = Path(__file__).resolve().parents[2]
PHI95 = 1.6448536269514722  # Phi^-1(0.95)


def _chart(at):
    charts = at.get("plotly_chart")
    assert len(charts) == 1, "expected one Plotly chart"
    return charts[0]


def _spec(at) -> dict:
    return json.loads(_chart(at).proto.spec)


def _array(value) -> np.ndarray:
    """A Plotly JSON array: a plain list or a typed array {"dtype", "bdata"} (base64)."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def _points(at) -> dict[int, tuple[float, float]]:
    """Dataset id -> (x, y) of every point of the scatter."""
    out = {}
    for trace in _spec(at)["data"]:
        if trace["type"] == "scattergl":
            for i, x, y in zip(_array(trace["customdata"]), _array(trace["x"]), _array(trace["y"])):
                out[int(i)] = (float(x), float(y))
    return out


def _select(at, ids):
    """Select the points with these dataset ids, as a click / box selection in the browser does."""
    points = _points(at)
    payload = {"selection": {"points": [{"customdata": int(i), "x": points[i][0], "y": points[i][1]} for i in ids],
                             "point_indices": list(range(len(ids))), "box": [], "lasso": []}}
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = _chart(at).proto.id
    state.string_value = json.dumps(payload)
    at._run(states)
    assert not at.exception, at.exception
    return at


def _captions(at) -> list[str]:
    """The captions as the reader sees them (Markdown backslash escapes removed)."""
    return [shown(c.value) for c in at.caption]


def _has_caption(at, pattern: str) -> bool:
    return any(re.search(pattern, c) for c in _captions(at))


def test_map_plots_every_test_image_with_its_dataset_id():
    at = open_app("mnist-2d", PAGE)
    assert at.header[0].value.startswith("Latent map")
    spec = _spec(at)
    traces = [t for t in spec["data"] if t["type"] == "scattergl"]
    assert [t["name"] for t in traces] == [str(d) for d in range(10)]
    ids = np.concatenate([_array(t["customdata"]) for t in traces])
    assert len(np.unique(ids)) == len(ids)
    (count,) = [c for c in _captions(at) if "points, one per test image" in c]
    assert int(count.split()[0].replace(",", "")) == len(ids)
    assert "shipped sample" in count or "full" in count
    assert spec["layout"]["xaxis"]["title"]["text"] == "z0"
    # The dashed box is the manifold grid's area: Phi^-1(0.05) .. Phi^-1(0.95) on both axes.
    (rect,) = spec["layout"]["shapes"]
    assert [rect[k] for k in ("x0", "x1", "y0", "y1")] == pytest.approx([-PHI95, PHI95, -PHI95, PHI95], abs=1e-5)
    assert any(m.value == f"**Latent means of {len(ids):,} test images**" for m in at.markdown)
    assert any("Click a point" in i.value for i in at.info)
    assert len(image_urls(at)) == 1  # only the manifold grid so far


def test_box_selection_shows_originals_beside_reconstructions():
    at = open_app("mnist-2d", PAGE)
    ids = list(_points(at))[5:8]
    _select(at, ids)
    assert _has_caption(at, r"^3 images selected\.")
    assert _has_caption(at, "In reading order: " + ", ".join(f"#{i}" for i in ids))
    urls = image_urls(at)
    assert len(urls) == 3  # originals, reconstructions, manifold
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert captions[:2] == ["originals", "reconstructions"]
    # The first selected image's posterior ellipse and a marker are drawn on the map, around it.
    overlays = {t["name"]: t for t in _spec(at)["data"] if t["type"] == "scatter"}
    assert set(overlays) == {"posterior ±2σ", f"#{ids[0]}"}
    x, y = _array(overlays["posterior ±2σ"]["x"]), _array(overlays["posterior ±2σ"]["y"])
    px, py = _points(at)[ids[0]]
    assert abs((x.max() + x.min()) / 2 - px) < 1e-4 and abs((y.max() + y.min()) / 2 - py) < 1e-3
    assert _has_caption(at, rf"^Ellipse: posterior of #{ids[0]}, μ = ")


def test_clicking_one_point_then_clearing():
    at = open_app("mnist-2d", PAGE)
    picked = list(_points(at))[42]
    _select(at, [picked])
    assert _has_caption(at, r"^1 image selected\.")
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert re.fullmatch(rf"original #{picked} \(\d\)", captions[0]) and captions[1] == "reconstruction"
    # The selection survives an unrelated rerun (a new grid size) ...
    at.slider(key="latent_map_grid").set_value(10).run()
    assert _has_caption(at, r"^1 image selected\.")
    # ... and goes when cleared.
    next(b for b in at.button if b.label == "Clear selection").click().run()
    assert not _has_caption(at, "selected")
    assert any("Click a point" in i.value for i in at.info)
    assert len(image_urls(at)) == 1


def test_large_selection_is_capped_and_counted():
    at = open_app("mnist-2d", PAGE)
    ids = list(_points(at))[:40]
    _select(at, ids)
    assert _has_caption(at, r"^40 images selected; showing the first 24\.")
    shown = next(c for c in _captions(at) if c.startswith("In reading order"))
    assert shown.count("#") == 24 and f"#{ids[23]}." in shown


def test_manifold_grid_follows_the_grid_size():
    at = open_app("mnist-2d", PAGE)
    before = image_urls(at)
    assert len(before) == 1
    assert any("\\Phi^{-1}" in m.value for m in at.markdown)
    at.slider(key="latent_map_grid").set_value(22).run()
    assert not at.exception
    after = image_urls(at)
    assert len(after) == 1 and after != before
    caption = next(img.caption for el in at.get("image") for img in el.proto.imgs)
    assert "22×22 images" in caption


def test_high_dimensional_model_is_shown_by_pca():
    at = open_app("mnist-20d", PAGE)
    spec = _spec(at)
    assert any("PCA projection of the 20-D latent means" in m.value for m in at.markdown)
    assert re.fullmatch(r"PC1 \(\d+\.\d% of variance\)", spec["layout"]["xaxis"]["title"]["text"])
    assert _has_caption(at, r"Explained variance of the latent means: PC1 \d+\.\d%, PC2 \d+\.\d%")
    # On the PCA plane the grid (and its dashed box) is scaled to the spread of the projected codes.
    xy = np.array(list(_points(at).values()))
    spread = xy.std(axis=0, ddof=1)
    (rect,) = spec["layout"]["shapes"]
    assert [rect["x0"], rect["x1"]] == pytest.approx([-PHI95 * spread[0], PHI95 * spread[0]], rel=1e-3)
    assert [rect["y0"], rect["y1"]] == pytest.approx([-PHI95 * spread[1], PHI95 * spread[1]], rel=1e-3)
    assert abs(xy.mean(axis=0)).max() < 1e-3 * spread.min()  # centred on the mean code
    assert any("PCA plane" in m.value for m in at.markdown)
    assert len(image_urls(at)) == 1
    picked = list(_points(at))[7]
    _select(at, [picked])
    assert _has_caption(at, r"^1 image selected\.")
    assert any(t["name"] == "posterior ±2σ (projected)" for t in _spec(at)["data"])
    assert _has_caption(at, rf"posterior of #{picked} projected onto the PCA plane")


def test_switching_model_drops_the_old_selection():
    at = open_app("mnist-2d", PAGE)
    _select(at, list(_points(at))[:2])
    assert _has_caption(at, r"^2 images selected\.")
    # What the sidebar picker's on_change does (AppTest does not show the sidebar on sub-pages).
    at.session_state["model_path"] = str(ROOT / "models" / "fashion-2d")
    at.run()
    assert not at.exception
    assert not _has_caption(at, "selected")
    assert any("Click a point" in i.value for i in at.info)
    assert len([t for t in _spec(at)["data"] if t["type"] == "scattergl"]) == 10
    assert "Fashion-MNIST" in next(c for c in _captions(at) if "points, one per test image" in c)
