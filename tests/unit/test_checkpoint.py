import json

import pytest
import torch

import vae.checkpoint as ckpt_mod
from vae.checkpoint import CheckpointError, load, read_card, save
from vae.config import ModelConfig
from vae.models import build_model


def _model(**kw):
    return build_model(ModelConfig(latent_dim=3, hidden=(16,), **kw), generator=torch.Generator().manual_seed(0))


def test_round_trip_weights_card_and_metrics(tmp_path):
    model = _model(likelihood="gaussian", learn_sigma=True)
    path = save(tmp_path / "m", model, "shapes", training={"epochs_done": 2}, metrics={"neg_elbo": 12.5},
                extra={"description": "test"})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "metrics.json", "model.safetensors"]
    loaded = load(path)
    assert loaded.config == model.config and loaded.dataset == "shapes"
    assert loaded.metrics == {"neg_elbo": 12.5} and loaded.card["description"] == "test"
    for (k, v), w in zip(model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(v, w), k
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(model.reconstruct(x), loaded.model.reconstruct(x))


def test_wrong_version(tmp_path):
    path = save(tmp_path / "m", _model(), "shapes")
    card = json.loads((path / "config.json").read_text())
    card["format_version"] = 99
    (path / "config.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="format version 99"):
        load(path)


def test_missing_files(tmp_path):
    with pytest.raises(CheckpointError, match="not a folder"):
        load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load(tmp_path / "empty")
    path = save(tmp_path / "m", _model(), "shapes")
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load(path)


def test_shape_mismatch_names_the_tensor(tmp_path):
    path = save(tmp_path / "m", _model(), "shapes")
    card = json.loads((path / "config.json").read_text())
    card["model"]["latent_dim"] = 5
    (path / "config.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=r"does not match config.json: .*encoder\.net\.\d\.weight"):
        load(path)


def test_truncated_safetensors(tmp_path):
    path = save(tmp_path / "m", _model(), "shapes")
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        load(path)


def test_damaged_json_and_foreign_card(tmp_path):
    path = save(tmp_path / "m", _model(), "shapes")
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_card(path)
    (path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(CheckpointError, match="not a vae-latent-lab checkpoint"):
        read_card(path)


def test_unknown_config_key_in_card(tmp_path):
    path = save(tmp_path / "m", _model(), "shapes")
    card = json.loads((path / "config.json").read_text())
    card["model"]["dropout"] = 0.1
    (path / "config.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="dropout"):
        load(path)


def test_crash_mid_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    first = _model()
    path = save(tmp_path / "m", first, "shapes", metrics={"v": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod, "_write_json", boom)
    with pytest.raises(OSError, match="disk full"):
        save(path, build_model(first.config, generator=torch.Generator().manual_seed(9)), "shapes")
    again = load(path)
    assert again.metrics == {"v": 1}
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.model.state_dict().values()))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temp folder left behind


def test_crash_between_renames_is_recovered(tmp_path, monkeypatch):
    path = save(tmp_path / "m", _model(), "shapes", metrics={"v": 1})
    real_rename = ckpt_mod.os.rename
    calls = []

    def rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError("power cut")
        real_rename(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "rename", rename)
    with pytest.raises(OSError):
        save(path, _model(), "shapes", metrics={"v": 2})
    monkeypatch.setattr(ckpt_mod.os, "rename", real_rename)
    assert not path.exists()  # the old folder was moved aside ...
    assert load(path).metrics == {"v": 1}  # ... and load puts it back


def test_loaded_tensors_are_never_unpickled(tmp_path, monkeypatch):
    path = save(tmp_path / "m", _model(), "shapes")
    import pickle

    def forbidden(*a, **k):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    load(path)


def test_ship_stores_float16_without_training_state(tmp_path):
    from safetensors import safe_open

    from vae.progress import TrainState
    from vae.ship import main as ship

    model = _model()
    save(tmp_path / "run", model, "shapes", training={"epochs_done": 1}, state=TrainState(epoch=1),
         extra={"description": "kept"})
    assert ship([str(tmp_path / "run"), str(tmp_path / "shipped")]) == 0
    files = sorted(p.name for p in (tmp_path / "shipped").iterdir())
    assert files == ["config.json", "model.safetensors"]
    with safe_open(str(tmp_path / "shipped" / "model.safetensors"), framework="pt") as fh:
        assert all(fh.get_tensor(k).dtype == torch.float16 for k in fh.keys())  # noqa: SIM118 (safe_open is not iterable)
    shipped = load(tmp_path / "shipped")
    assert shipped.card["weights_dtype"] == "float16" and shipped.card["description"] == "kept"
    assert all(p.dtype == torch.float32 for p in shipped.model.parameters())
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(shipped.model.reconstruct(x), model.reconstruct(x), atol=2e-3)
    assert ship([str(tmp_path / "nowhere"), str(tmp_path / "x")]) == 2
