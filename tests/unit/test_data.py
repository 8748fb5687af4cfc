import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vae.data.base import DatasetUnavailable
from vae.data.folder import count_images, load_folder
from vae.data.shapes import FACTOR_NAMES, POSITION_RANGE, SCALE_RANGE, make_shapes
from vae.registry import DATASETS, load_dataset


def test_shapes_same_seed_same_data_and_factors_in_range():
    a, b = make_shapes(300, seed=4), make_shapes(300, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)
    assert not torch.equal(make_shapes(300, seed=5).images, a.images)
    assert a.images.shape == (300, 1, 28, 28) and a.images.dtype == torch.uint8
    assert a.factor_names == FACTOR_NAMES and a.factors.shape == (300, 5)
    assert set(a.labels.tolist()) == {0, 1, 2}
    assert torch.equal(a.labels, a.factors[:, 0].long())
    assert a.factors[:, 1].min() >= SCALE_RANGE[0] and a.factors[:, 1].max() <= SCALE_RANGE[1]
    assert a.factors[:, 3:].min() >= POSITION_RANGE[0] and a.factors[:, 3:].max() <= POSITION_RANGE[1]


def test_shapes_images_follow_their_factors():
    d = make_shapes(400, seed=6)
    img = d.float_images()[:, 0]  # (N, 28, 28)
    mass = img.sum(dim=(1, 2))
    coords = (torch.arange(28) + 0.5) / 28
    cx = (img.sum(1) * coords).sum(1) / mass
    cy = (img.sum(2) * coords).sum(1) / mass
    square = d.labels == 0  # symmetric shapes: centre of mass = position
    assert (cx[square] - d.factors[square, 3]).abs().max() < 0.03
    assert (cy[square] - d.factors[square, 4]).abs().max() < 0.03
    corr = torch.corrcoef(torch.stack([mass[square], d.factors[square, 1]]))[0, 1]
    assert corr > 0.95  # ink grows with scale
    assert img[:, 0, :].max() == 0 and img[:, :, -1].max() == 0  # shapes stay inside the frame


def test_shapes_64_and_registry_splits_differ():
    d = load_dataset("shapes-64", "test")
    assert d.images.shape[1:] == (1, 64, 64)
    tr, te = load_dataset("shapes", "train"), load_dataset("shapes", "test")
    assert len(tr) == 20_000 and len(te) == 2_000
    assert not torch.equal(tr.images[:10], te.images[:10])


def _png(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)


def test_folder_dataset_with_subfolder_labels(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            _png(tmp_path / cls / f"{i}.png", rng.integers(0, 255, (40, 30, 3), dtype=np.uint8))
    _png(tmp_path / "dogs" / "rgba.png", rng.integers(0, 255, (20, 20, 4), dtype=np.uint8))
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"not an image")
    train = load_dataset(f"folder:{tmp_path}", "train")
    test = load_dataset(f"folder:{tmp_path}", "test")
    assert train.classes == ("cats", "dogs")
    assert len(train) + len(test) == 21 and len(test) == 2
    assert train.images.shape[1:] == (1, 28, 28)
    assert "1 unreadable file(s) skipped" in train.source
    rgb = load_dataset(f"folder:{tmp_path}", "train", channels=3, size=32)
    assert rgb.images.shape[1:] == (3, 32, 32)


def test_folder_without_subfolders_and_errors(tmp_path):
    for i in range(3):
        _png(tmp_path / f"{i}.png", np.full((8, 8), 200, dtype=np.uint8))
    d = load_dataset(f"folder:{tmp_path}", "train")
    assert d.classes == ("all",) and len(d) == 2 and int(d.images.max()) == 200
    with pytest.raises(DatasetUnavailable, match="is not a folder"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetUnavailable, match="no images"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError, match="mnist, fashion-mnist, shapes"):
        load_dataset("cifar")


def test_offline_error_says_where_and_how(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", offline)
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("mnist", "test", data_dir=tmp_path, allow_sample=False)
    text = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in text
    assert "download failed" in text and "VAE_DATA_DIR" in text and "--data-dir" in text
    assert "Traceback" not in text


def test_no_download_error(tmp_path):
    with pytest.raises(DatasetUnavailable, match="FashionMNIST"):
        load_dataset("fashion-mnist", "test", data_dir=tmp_path, download=False, allow_sample=False)


@pytest.mark.parametrize("name, classes", [("mnist", "0"), ("fashion-mnist", "T-shirt/top")])
def test_offline_falls_back_to_shipped_sample_and_says_so(tmp_path, name, classes):
    d = load_dataset(name, "test", data_dir=tmp_path, download=False)
    assert len(d) == 2000 and d.images.shape == (2000, 1, 28, 28)
    assert d.labels.bincount().tolist() == [200] * 10  # class-balanced
    assert d.classes[0] == classes
    assert d.source.startswith("shipped sample of 2000 images of the official") and str(tmp_path) in d.source
    assert int(d.ids.max()) < 10_000 and len(set(d.ids.tolist())) == 2000
    with pytest.raises(DatasetUnavailable):  # never trains on test images unless asked to
        load_dataset(name, "train", data_dir=tmp_path, download=False)
    train = load_dataset(name, "train", data_dir=tmp_path, download=False, allow_sample=True)
    assert "no full training set was found" in train.source


def test_shipped_sample_matches_full_test_set(mnist_dir):
    full = load_dataset("mnist", "test", data_dir=mnist_dir)
    sample = load_dataset("mnist", "test", data_dir=mnist_dir / "nowhere", download=False)
    assert torch.equal(full.images[sample.ids], sample.images)
    assert torch.equal(full.labels[sample.ids], sample.labels)


def test_full_mnist_preloaded_as_uint8(mnist_dir):
    d = load_dataset("mnist", "test", data_dir=mnist_dir)
    assert d.images.shape == (10_000, 1, 28, 28) and d.images.dtype == torch.uint8
    assert d.labels.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert "full MNIST" in d.source


def test_registry_shapes_match_specs():
    for name, spec in DATASETS.items():
        if not spec.needs_files:
            assert load_dataset(name, "test").image_shape == spec.image_shape


def test_folder_skips_every_failure_per_file(tmp_path, monkeypatch):
    """Whatever a decoder raises for one file (Pillow reports damage as SyntaxError, struct.error,
    EOFError...), that file is skipped and counted; the rest load."""
    for i, name in enumerate(["ok0", "ok1", "syntax", "struct", "eof", "value", "bomb", "memory"]):
        _png(tmp_path / f"{name}.png", np.full((8, 8), 40 + i, dtype=np.uint8))
    errors = {"syntax": SyntaxError("bad"), "struct": struct.error("bad"), "eof": EOFError(), "value": ValueError(),
              "bomb": Image.DecompressionBombError("big"), "memory": MemoryError()}
    real_open = Image.open

    def fake_open(path, *args, **kwargs):
        if Path(path).stem in errors:
            raise errors[Path(path).stem]
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", fake_open)
    d = load_folder(tmp_path, "train")
    assert len(d) == 1 and "6 unreadable file(s) skipped" in d.source


def test_folder_checks_the_declared_size_itself(tmp_path, monkeypatch):
    """An image over 16 megapixels (4100x4000 of black: a few kB) is skipped undecoded even when
    Pillow's global limit is lifted (the worker never sets it); .tif files are not images here."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    _png(tmp_path / "a.png", np.full((8, 8), 90, dtype=np.uint8))
    _png(tmp_path / "b.png", np.full((8, 8), 90, dtype=np.uint8))
    Image.new("L", (4100, 4000), 0).save(tmp_path / "big.png")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "c.tif")
    assert count_images(tmp_path) == 3
    d = load_folder(tmp_path, "train")
    assert len(d) + len(load_folder(tmp_path, "test")) == 2 and "1 unreadable file(s) skipped" in d.source


def test_uploaded_folders_are_not_named_by_path(tmp_path, monkeypatch):
    uploads = tmp_path / "server" / "datasets"
    monkeypatch.setenv("VAE_UPLOADS_DIR", str(uploads))
    folder = uploads / "zip-0123456789abcdef"
    folder.mkdir(parents=True)
    _png(folder / "a.png", np.full((8, 8), 90, dtype=np.uint8))
    d = load_folder(folder, "train")
    assert d.source.startswith("uploaded zip dataset 01234567:") and str(tmp_path) not in d.source
    with pytest.raises(DatasetUnavailable) as info:
        load_folder(uploads / "zip-fedcba9876543210", "train")
    assert "no longer on the server" in str(info.value) and str(tmp_path) not in str(info.value)
    (folder / "a.png").unlink()
    with pytest.raises(DatasetUnavailable, match="no images") as info:
        load_folder(folder, "train")
    assert str(tmp_path) not in str(info.value)
    other = tmp_path / "mine"
    other.mkdir()
    _png(other / "a.png", np.full((8, 8), 90, dtype=np.uint8))
    assert str(other) in load_folder(other, "train").source  # a CLI user's own folder: the path helps
