"""AppTest: the Latent map's t-SNE projection (ui/tsne_view.py over vae/tsne.py).

A copy of the shipped mnist-20d in the private user-models folder has no cached map, so the
first visit computes it (with a stand-in for openTSNE that counts its calls: tests/unit/
test_tsne.py runs the real one); the shipped model itself comes with its maps precomputed.
"""
import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from app_helpers import image_urls, open_app, shown

from vae import tsne

PAGE = "pages/latent_map.py"
ROOT = Path(__file__).resolve().parents[2]
PROJ = "latent_map_projection"


def _spec(at) -> dict:
    (chart,) = at.get("plotly_chart")
    return json.loads(chart.proto.spec)


def _array(value) -> np.ndarray:
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def _points(at) -> dict[int, tuple[float, float]]:
    out = {}
    for trace in _spec(at)["data"]:
        if trace["type"] == "scattergl":
            for i, x, y in zip(_array(trace["customdata"]), _array(trace["x"]), _array(trace["y"])):
                out[int(i)] = (float(x), float(y))
    return out


def _select(at, ids):
    """Select points by dataset id, as the browser sends a click or lasso selection."""
    points = _points(at)
    payload = {"selection": {"points": [{"customdata": int(i), "x": points[i][0], "y": points[i][1]} for i in ids],
                             "point_indices": list(range(len(ids))), "box": [], "lasso": []}}
    (chart,) = at.get("plotly_chart")
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart.proto.id
    state.string_value = json.dumps(payload)
    at._run(states)
    assert not at.exception, at.exception
    return at


def _captions(at) -> list[str]:
    return [shown(c.value) for c in at.caption]


def _choose_tsne(at):
    at.radio(key=PROJ).set_value("t-SNE").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Maps of read-only model folders go to a private cache; nothing is remembered in memory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tsne._memo.clear()
    yield
    tsne._memo.clear()


@pytest.fixture
def my_model(tmp_path) -> Path:
    """mnist-20d copied into the user-models folder as ``my-20d`` (without any cached map)."""
    dst = tmp_path / "user_models" / "my-20d"  # VAE_USER_MODELS (tests/app/conftest.py)
    dst.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "metrics.json", "README.md"):
        shutil.copy2(ROOT / "models" / "mnist-20d" / name, dst / name)
    return dst


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """A stand-in for openTSNE: the first two latent means, scaled (reports progress); counts calls."""
    counted: list[int] = []

    def fake(means, seed=0, progress=None, n_jobs=None):
        counted.append(len(means))
        for f in (0.0, 0.5, 1.0):
            progress(f)
        return (np.asarray(means)[:, :2] * 10).astype(np.float32)

    monkeypatch.setattr(tsne, "embed", fake)
    return counted


def test_choosing_tsne_shows_the_map_once_computed_and_reused(my_model, calls):
    at = open_app("my-20d", PAGE)
    assert at.radio(key=PROJ).options == ["PCA", "t-SNE"] and at.radio(key=PROJ).value == "PCA"
    assert calls == []  # PCA by default: nothing computed
    _choose_tsne(at)
    assert len(calls) == 1
    n = calls[0]
    spec = _spec(at)
    assert spec["layout"]["xaxis"]["title"]["text"] == "t-SNE 1" and not spec["layout"].get("shapes")
    points = _points(at)
    assert len(points) == n
    assert any(m.value == f"**t-SNE map of the 20-D latent means of {n:,} test images**" for m in at.markdown)
    assert any(c.startswith("t-SNE (perplexity 30) keeps each code's nearest neighbours") for c in _captions(at))
    # The pad and the grid need a way back to z: replaced by a note, nothing decoded.
    assert any("has no way back from a point to a code z" in i.value for i in at.info)
    assert not any(s.value.startswith(("Latent pad:", "Manifold")) for s in at.subheader)
    assert image_urls(at) == []
    assert len(list(my_model.glob("tsne-*.npz"))) == 1  # cached beside the model
    # A click selects as on the PCA map: original beside reconstruction, a marker but no ellipse.
    picked = list(points)[11]
    _select(at, [picked])
    assert any(re.match(r"^1 image selected\.", c) for c in _captions(at))
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert re.fullmatch(rf"original #{picked} \(\d\)", captions[0]) and captions[1] == "reconstruction"
    overlays = [t for t in _spec(at)["data"] if t["type"] == "scatter"]
    assert [t["name"] for t in overlays] == [f"#{picked}"]
    assert (_array(overlays[0]["x"])[0], _array(overlays[0]["y"])[0]) == pytest.approx(points[picked], abs=1e-4)
    assert any(f"Marker: #{picked} on the t-SNE map. No posterior ellipse" in c for c in _captions(at))
    # Another student opens it: no recompute; nor after a restart (the map is read from disk).
    assert _points(_choose_tsne(open_app("my-20d", PAGE))) == points
    tsne._memo.clear()
    assert _points(_choose_tsne(open_app("my-20d", PAGE))) == points
    assert calls == [n]


def test_back_to_pca_restores_the_pad_and_the_grid(my_model, calls):
    at = _choose_tsne(open_app("my-20d", PAGE))
    at.radio(key=PROJ).set_value("PCA").run()
    assert not at.exception
    assert re.fullmatch(r"PC1 \(\d+\.\d% of variance\)", _spec(at)["layout"]["xaxis"]["title"]["text"])
    assert any(s.value.startswith("Manifold") for s in at.subheader) and len(image_urls(at)) == 1


def test_shipped_model_comes_with_its_map(monkeypatch):
    """mnist-20d ships its maps (full test set and the 2,000-image sample): a warm cache, nothing
    computed even in a fresh process."""
    def must_not_run(*args, **kwargs):
        raise AssertionError("the shipped t-SNE map was recomputed")

    monkeypatch.setattr(tsne, "embed", must_not_run)
    at = _choose_tsne(open_app("mnist-20d", PAGE))
    assert not at.error and _spec(at)["layout"]["xaxis"]["title"]["text"] == "t-SNE 1"
    assert len(_points(at)) in (2000, 10000)


def test_two_dimensional_models_have_no_projection_choice():
    at = open_app("mnist-2d", PAGE)
    assert [r for r in at.radio if r.key == PROJ] == []


def test_a_map_that_cannot_be_computed_is_a_clear_error(my_model, monkeypatch):
    def broken(means, seed=0, progress=None, n_jobs=None):
        raise ValueError("t-SNE needs finite latent means; these contain NaN or infinity")

    monkeypatch.setattr(tsne, "embed", broken)
    at = _choose_tsne(open_app("my-20d", PAGE))
    assert any("The t-SNE map cannot be computed for this model: t-SNE needs finite latent means" in shown(e.value)
               for e in at.error)
    assert not at.get("plotly_chart")
