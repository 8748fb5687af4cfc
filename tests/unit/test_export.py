"""services.export: the decoder's layer spec and weight buffer (float16 when exact), and what it refuses."""
import numpy as np
import pytest
import torch
from torch import nn

from services.catalog import SHIPPED_DIR
from services.export import FORMAT, UnsupportedDecoder, export_decoder
from vae.checkpoint import load
from vae.config import ModelConfig
from vae.models import build_model


def _weights(exp) -> np.ndarray:
    return np.frombuffer(exp.weights, dtype="<f4")


def test_mlp_spec_lists_layers_and_places_every_weight():
    model = build_model(ModelConfig(arch="mlp", latent_dim=3, hidden=(16, 8), activation="elu"))
    exp = export_decoder(model)
    spec = exp.spec
    assert spec["format"] == FORMAT and spec["latent_dim"] == 3 and spec["image_shape"] == [1, 28, 28]
    assert [layer["op"] for layer in spec["layers"]] == ["linear", "elu", "linear", "elu", "linear"]
    assert spec["output"] == "sigmoid"
    n = sum(p.numel() for p in model.decoder.parameters())
    assert spec["params"] == n and len(exp.weights) == 4 * n
    first = spec["layers"][0]
    o, count = first["weight"]
    assert (first["in"], first["out"]) == (3, 8) and count == 24  # hidden reversed: 3 -> 8 -> 16 -> 784
    lin = model.decoder.net[0]
    assert np.array_equal(_weights(exp)[o:o + count], lin.weight.detach().numpy().reshape(-1))
    bo, bc = first["bias"]
    assert np.array_equal(_weights(exp)[bo:bo + bc], lin.bias.detach().numpy())


def test_conv_spec_tracks_shapes_and_output_padding():
    cfg = ModelConfig(arch="conv", channels=3, height=13, width=9, latent_dim=2, conv_channels=(4, 6), conv_fc=8,
                      likelihood="gaussian")
    spec = export_decoder(build_model(cfg)).spec
    ops = [layer["op"] for layer in spec["layers"]]
    assert ops == ["linear", "relu", "linear", "relu", "reshape", "deconv", "relu", "deconv"]
    reshape, d1, d2 = spec["layers"][4], spec["layers"][5], spec["layers"][7]
    assert reshape["shape"] == [6, 3, 2]  # 13x9 -> 6x4 -> 3x2
    assert (d1["in_hw"], d1["out_hw"]) == ([3, 2], [6, 4]) and (d2["in_hw"], d2["out_hw"]) == ([6, 4], [13, 9])
    assert d2["kernel"] == [4, 4] and d2["stride"] == [2, 2] and d2["padding"] == [1, 1]
    assert spec["output"] == "clamp" and spec["image_shape"] == [3, 13, 9]


def test_model_id_follows_the_weights():
    cfg = ModelConfig(arch="mlp", latent_dim=2, hidden=(8,))
    a = export_decoder(build_model(cfg, generator=torch.Generator().manual_seed(1)))
    b = export_decoder(build_model(cfg, generator=torch.Generator().manual_seed(1)))
    c = export_decoder(build_model(cfg, generator=torch.Generator().manual_seed(2)))
    assert a.model_id == b.model_id != c.model_id and len(a.model_id) == 16


def test_too_large_a_decoder_is_refused():
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,)))
    with pytest.raises(UnsupportedDecoder, match="parameters, more than the 100"):
        export_decoder(model, max_params=100)


def test_unknown_layers_and_decoders_are_refused():
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,)))
    model.decoder.net.insert(1, nn.Tanh())
    with pytest.raises(UnsupportedDecoder, match="Tanh"):
        export_decoder(model)
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,)))
    model.decoder = nn.Linear(2, 784)
    with pytest.raises(UnsupportedDecoder, match="decoder type Linear"):
        export_decoder(model)
    conv = build_model(ModelConfig(arch="conv", latent_dim=2, conv_channels=(4, 4), conv_fc=8))
    conv.decoder.deconv[0] = nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=2)
    with pytest.raises(UnsupportedDecoder, match="groups"):
        export_decoder(conv)


def _halved(model):
    """``model`` with every decoder weight rounded to float16 (as the shipped models are stored)."""
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.copy_(p.half().float())
    return model


def test_weights_exactly_representable_in_float16_are_exported_as_float16():
    model = _halved(build_model(ModelConfig(arch="conv", latent_dim=2, conv_channels=(4, 4), conv_fc=8)))
    exp = export_decoder(model)
    n = sum(p.numel() for p in model.decoder.parameters())
    assert exp.spec["dtype"] == "float16" and exp.spec["params"] == n and len(exp.weights) == 2 * n
    values = np.frombuffer(exp.weights, dtype="<f2").astype(np.float32)
    full = np.concatenate([p.detach().numpy().reshape(-1) for p in model.decoder.parameters()])
    assert np.array_equal(np.sort(values), np.sort(full))  # the very same weights, every one
    first = exp.spec["layers"][0]
    o, count = first["weight"]
    assert np.array_equal(values[o:o + count], model.decoder.fc[0].weight.detach().numpy().reshape(-1))


def test_one_weight_off_float16_keeps_float32_and_the_id_follows_the_dtype():
    model = _halved(build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,))))
    half = export_decoder(model)
    with torch.no_grad():
        model.decoder.net[0].bias[0] += 1e-4  # not a float16 number any more
    full = export_decoder(model)
    assert full.spec["dtype"] == "float32" and len(full.weights) == 4 * full.spec["params"]
    bias_at = full.spec["layers"][0]["bias"][0]
    assert _weights(full)[bias_at] == model.decoder.net[0].bias[0].item()
    assert half.model_id != full.model_id


@pytest.mark.parametrize("value, dtype", [(float("inf"), "float16"), (65504.0, "float16"), (2.0**-24, "float16"),
                                          (70000.0, "float32"), (float("nan"), "float32"), (1e-8, "float32")])
def test_float16_edge_values(value, dtype):
    model = _halved(build_model(ModelConfig(arch="mlp", latent_dim=2, hidden=(8,))))
    with torch.no_grad():
        model.decoder.net[0].bias[0] = value
    assert export_decoder(model).spec["dtype"] == dtype


def test_shipped_models_export_as_float16():
    for folder in sorted(p for p in SHIPPED_DIR.iterdir() if (p / "model.safetensors").exists()):
        exp = export_decoder(load(folder).model)
        assert exp.spec["dtype"] == "float16", folder.name
        assert len(exp.weights) == 2 * exp.spec["params"]
