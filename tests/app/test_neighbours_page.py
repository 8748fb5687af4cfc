"""AppTest: the Neighbours & arithmetic page, driven as a user would (test images, a random one,
uploads good and bad, k and the metric, class arithmetic and its strength, sets, the Latent map's
selection, a conditional model)."""
from __future__ import annotations

import io

import pytest
import torch
from app_helpers import open_app, shown
from PIL import Image, ImageDraw

from vae.checkpoint import save
from vae.config import ModelConfig
from vae.models import build_model
from vae.registry import load_dataset

PAGE = "pages/neighbours.py"


def _captions(at) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


def _urls(at) -> dict[str, str]:
    """Image caption -> media URL (the URL changes when the pixels do)."""
    return {img.caption: img.url for el in at.get("image") for img in el.proto.imgs}


def _neighbour_captions(at) -> list[str]:
    return [c for c in _captions(at) if c[:1].isdigit() and ". #" in c]


def _moved(at) -> str:
    """The URL of the decoded z + s·v image."""
    return next(url for cap, url in _urls(at).items() if cap.startswith("decoded z + "))


def _ok(at):
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _seven() -> bytes:
    im = Image.new("L", (120, 160), 245)
    ImageDraw.Draw(im).line([(25, 30), (95, 30), (55, 135)], fill=15, width=12)
    return _png(im)


@pytest.mark.parametrize("model", ["mnist-2d", "mnist-20d"])
def test_page_renders_query_neighbours_and_arithmetic(model):
    at = _ok(open_app(model, PAGE))
    caps = _captions(at)
    assert caps[0].startswith("test image #") and caps[0].endswith(")")
    near = _neighbour_captions(at)
    assert len(near) == 8 and near[0].startswith("1. #")
    dists = [float(c.rsplit("d ", 1)[1]) for c in near]
    assert dists == sorted(dists) and dists[0] > 0  # the query itself (at 0) is left out
    assert caps[-3:] == ["decoded z (s = 0)", "decoded z + 1.0·v", "z + s·v for s = −2, −1, 0, +1, +2, +3"]
    assert [e.label for e in at.expander] == ["What am I seeing?", "What am I seeing?"]


def test_k_and_metric_change_the_neighbours():
    at = _ok(open_app("mnist-2d", PAGE))
    at.slider(key="nb_k").set_value(3).run()
    assert len(_neighbour_captions(_ok(at))) == 3
    at.slider(key="nb_k").set_value(24).run()
    euclid = _neighbour_captions(_ok(at))
    assert len(euclid) == 24
    at.radio(key="nb_metric").set_value("cosine").run()
    cosine = _neighbour_captions(_ok(at))
    assert len(cosine) == 24 and cosine != euclid
    assert any("Cosine distance" in c.value for c in at.caption)


def test_class_arithmetic_and_strength_change_the_decoded_image():
    at = _ok(open_app("mnist-20d", PAGE))
    at.radio(key="nb_mode").set_value("Class → class").run()
    at.selectbox(key="nb_from_mnist").set_value(4).run()
    at.selectbox(key="nb_to_mnist").set_value(9).run()
    at.slider(key="nb_strength").set_value(0.0).run()
    urls = _urls(_ok(at))
    assert urls["decoded z + 0.0·v"] == urls["decoded z (s = 0)"]  # s = 0: the query's own code
    at.slider(key="nb_strength").set_value(2.0).run()
    at_two = _moved(_ok(at))
    assert at_two != urls["decoded z (s = 0)"]
    assert any("mean code of class 9 − mean code of class 4" in c.value for c in at.caption)
    at.slider(key="nb_strength").set_value(-1.5).run()
    assert _moved(_ok(at)) not in (at_two, urls["decoded z (s = 0)"])
    # the same class twice: v = 0, so any strength decodes the query itself
    at.selectbox(key="nb_to_mnist").set_value(4).run()
    assert _moved(_ok(at)) == urls["decoded z (s = 0)"]


def test_ink_and_two_sets_give_vectors():
    at = _ok(open_app("mnist-2d", PAGE))
    at.radio(key="nb_mode").set_value("More ink (thickness)").run()
    ink = _moved(_ok(at))
    assert any("10% inkiest images of each class" in c.value for c in at.caption)
    at.radio(key="nb_mode").set_value("Two sets").run()
    assert any("Choose at least one class for each set" in i.value for i in _ok(at).info)
    at.multiselect(key="nb_set_a_classes_mnist").set_value([1]).run()
    at.multiselect(key="nb_set_b_classes_mnist").set_value([0, 8]).run()
    sets = _moved(_ok(at))
    assert sets != ink and any("mean code of set B − mean code of set A" in c.value for c in at.caption)


def test_latent_map_selection_as_query_and_as_a_set():
    at = _ok(open_app("mnist-2d", PAGE))
    ids = load_dataset("mnist", "test").ids[5:8].tolist()  # official ids (the sample's are not 0..N-1)
    at.session_state["latent_map_selected"] = (at.session_state["model_path"], ids)
    at.radio(key="nb_source").set_value("Latent map selection").run()
    assert _captions(_ok(at))[0].startswith(f"Latent map selection: test image #{ids[0]} (")
    at.radio(key="nb_mode").set_value("Two sets").run()
    take = next(b for b in at.button if b.label == "Use the Latent map's selection (3 images)")
    take.click().run()
    assert any(c.value == "3 image(s) selected on the Latent map." for c in _ok(at).caption)
    at.multiselect(key="nb_set_b_classes_mnist").set_value([3]).run()
    assert "decoded z + 1.0·v" in _urls(_ok(at))


def test_random_query_follows_the_seed():
    at = _ok(open_app("mnist-2d", PAGE))
    at.radio(key="nb_source").set_value("Random test image").run()
    at.number_input(key="nb_seed").set_value(3).run()
    first = _captions(_ok(at))[0]
    assert first.startswith("random (seed 3) test image #")
    at.number_input(key="nb_seed").set_value(4).run()
    assert _captions(_ok(at))[0] != first
    at.number_input(key="nb_seed").set_value(3).run()
    assert _captions(_ok(at))[0] == first


def test_uploads_good_and_bad():
    at = _ok(open_app("mnist-2d", PAGE))
    at.radio(key="nb_source").set_value("Upload").run()
    assert any("Upload an image" in i.value for i in _ok(at).info)
    at.file_uploader(key="nb_upload").set_value(("bad.png", b"not an image at all", "image/png")).run()
    assert not at.exception
    assert [e.value for e in at.error] and "not an image that can be read" in shown(at.error[0].value)
    assert not _neighbour_captions(at)
    at.file_uploader(key="nb_upload").set_value(("seven.png", _seven(), "image/png")).run()
    assert shown(_captions(_ok(at))[0]) == "your file seven.png"
    near = _neighbour_captions(at)
    assert len(near) == 8 and sum(" · 7 · " in c for c in near) >= 4  # a drawn 7 lands among 7s
    assert "The query itself" not in " ".join(c.value for c in at.caption)  # an upload is not in the set


def test_conditional_model_encodes_with_the_class(tmp_path):
    model = build_model(ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32,)))
    save(tmp_path / "user_models" / "tiny-cond", model, "mnist")  # the folder the app fixture lists
    at = _ok(open_app("tiny-cond", PAGE))
    assert any("This model is **conditional**" in i.value for i in at.info)
    assert len(_neighbour_captions(at)) == 8
    at.radio(key="nb_mode").set_value("Class → class").run()
    at.selectbox(key="nb_to_mnist").set_value(9).run()
    nine = _moved(_ok(at))
    at.selectbox(key="nb_to_mnist").set_value(3).run()
    assert _moved(_ok(at)) != nine  # drawn as the "to" class
    at.radio(key="nb_source").set_value("Upload").run()
    at.file_uploader(key="nb_upload").set_value(("seven.png", _seven(), "image/png")).run()
    at.selectbox(key="nb_upload_class_mnist").set_value(7).run()
    assert shown(_captions(_ok(at))[0]) == "your file seven.png (as 7)"


def test_the_strength_is_also_a_live_path_whose_release_sets_the_slider():
    from live_helpers import live_data, set_state

    at = _ok(open_app("mnist-20d", PAGE))
    at.radio(key="nb_mode").set_value("Class → class").run()
    at.slider(key="nb_strength").set_value(0.0).run()
    path = live_data(_ok(at), "path")
    z = torch.tensor(path["z0"]), torch.tensor(path["z1"])
    assert path["method"] == "linear" and path["t"] == pytest.approx(0.4)  # s = 0 on -2 .. 3
    assert (z[1] - z[0]).norm() > 0.1  # from z - 2v to z + 3v, v = mean(9) - mean(4) by default
    set_state(at, "nb_live_strength", t=0.8)  # released at t = 0.8: s = -2 + 0.8 * 5 = 2
    assert at.slider(key="nb_strength").value == pytest.approx(2.0)
    assert live_data(_ok(at), "path")["t"] == pytest.approx(0.8)
    set_state(at, "nb_live_strength", t=float("nan"))  # tampered: ignored
    assert at.slider(key="nb_strength").value == pytest.approx(2.0)
