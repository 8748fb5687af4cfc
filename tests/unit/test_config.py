import json

import pytest

from vae.config import ConfigError, ModelConfig, TrainConfig
from vae.registry import preset_config


def test_model_config_json_round_trip():
    cfg = ModelConfig(arch="conv", latent_dim=16, conv_channels=(16, 32), hidden=(300, 100), likelihood="gaussian",
                      sigma=0.2, learn_sigma=True)
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert again.conv_channels == (16, 32)


def test_train_config_round_trip():
    cfg = TrainConfig(epochs=3, beta=4.0, kl_warmup_epochs=1.5)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_unknown_key_is_an_error_naming_it():
    data = ModelConfig().to_dict() | {"latnet_dim": 3}
    with pytest.raises(ConfigError, match="latnet_dim"):
        ModelConfig.from_dict(data)


@pytest.mark.parametrize("kwargs, message", [
    ({"latent_dim": 0}, "latent_dim"),
    ({"latent_dim": 129}, "latent_dim"),
    ({"arch": "transformer"}, "arch"),
    ({"likelihood": "poisson"}, "likelihood"),
    ({"channels": 2}, "channels"),
    ({"hidden": ()}, "hidden"),
    ({"sigma": 0.0}, "sigma"),
])
def test_invalid_model_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [{"epochs": 0}, {"lr": 0}, {"beta": -1}, {"batch_size": 0}])
def test_invalid_train_values(kwargs):
    with pytest.raises(ConfigError):
        TrainConfig(**kwargs)


def test_latent_dim_bounds_accepted():
    assert ModelConfig(latent_dim=1).latent_dim == 1
    assert ModelConfig(latent_dim=128).latent_dim == 128


def test_preset_overrides():
    cfg = preset_config("pytorch-example")
    assert (cfg.arch, cfg.hidden, cfg.latent_dim) == ("mlp", (400,), 20)
    assert preset_config("conv", latent_dim=5, hidden=None).latent_dim == 5
    with pytest.raises(ConfigError, match="unknown model preset"):
        preset_config("nope")
