"""The class-conditional VAE (``cmlp``/``cconv``): config checks, the label in the encoder and
decoder, checkpoints, the explore functions, evaluation, the trainer and the training CLI."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae import checkpoint, explore
from vae.config import ConfigError, ModelConfig
from vae.data.base import ImageData
from vae.distributed import ShardELBO
from vae.losses import elbo
from vae.metrics import evaluate
from vae.models import build_model
from vae.runspec import DataSpec, RunSpec
from vae.train import build_parser, spec_from_args

ROOT = Path(__file__).resolve().parents[2]
CMLP = ModelConfig(arch="cmlp", num_classes=10, latent_dim=2, hidden=(32,))
CCONV = ModelConfig(arch="cconv", num_classes=4, latent_dim=3, conv_channels=(4, 8), conv_fc=16)


def _model(cfg: ModelConfig = CMLP, seed: int = 0):
    return build_model(cfg, generator=torch.Generator().manual_seed(seed)).eval()


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def _data(n: int = 40, classes: int = 10) -> ImageData:
    gen = torch.Generator().manual_seed(3)
    images = (torch.rand(n, 1, 28, 28, generator=gen) * 255).to(torch.uint8)
    return ImageData(name="toy", split="test", images=images, labels=torch.arange(n) % classes,
                     classes=tuple(str(c) for c in range(classes)), source="toy")


@pytest.mark.parametrize("fields, message", [
    ({"arch": "cmlp"}, "arch cmlp is class-conditional: num_classes must be"),
    ({"arch": "cconv", "num_classes": 1}, "got 1"),
    ({"arch": "cmlp", "num_classes": 5000}, "2..1000"),
    ({"arch": "mlp", "num_classes": 10}, "use cmlp for a class-conditional model"),
    ({"arch": "conv", "num_classes": 3}, "arch conv is unconditional: num_classes must be 0"),
    ({"arch": "cmlp", "num_classes": True}, "num_classes must be an integer"),
    ({"arch": "cmlp", "num_classes": 2.5}, "num_classes must be an integer"),
])
def test_config_checks_the_class_count_against_the_arch(fields, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**fields)


def test_config_conditional_property_and_old_cards():
    assert CMLP.conditional and CCONV.conditional and CCONV.base_arch == "conv"
    assert not ModelConfig().conditional and ModelConfig().num_classes == 0
    old = ModelConfig().to_dict()
    assert "num_classes" not in old  # an unconditional card is what it was before conditional models
    assert ModelConfig.from_dict(old) == ModelConfig() and CMLP.to_dict()["num_classes"] == 10
    assert ModelConfig.from_dict(CCONV.to_dict()) == CCONV


@pytest.mark.parametrize("cfg", [CMLP, CCONV])
def test_label_enters_encoder_and_decoder(cfg):
    model = _model(cfg)
    x, z = _images(3), torch.randn(3, cfg.latent_dim, generator=torch.Generator().manual_seed(1))
    k = cfg.num_classes
    assert model.num_classes == k
    images = torch.stack([model.decode_image(z, torch.full((3,), c)) for c in range(k)])  # (K, 3, C, H, W)
    for a in range(k):
        for b in range(a + 1, k):
            assert (images[a] - images[b]).abs().max() > 1e-4, f"classes {a} and {b} decode alike"
    means = torch.stack([model.encode(x, c).mean for c in range(k)])
    assert (means[0] - means[1]).abs().max() > 1e-5
    # an int, a 0-d tensor and a (B,) tensor of the same class agree
    assert torch.equal(model.decode_image(z, 1), model.decode_image(z, torch.tensor(1)))
    assert torch.equal(model.decode_image(z, 1), images[1])
    posterior, params = model(x, torch.tensor([0, 1, 2]), generator=torch.Generator().manual_seed(2))
    assert posterior.mean.shape == (3, cfg.latent_dim) and params.shape == (3, *cfg.image_shape)
    assert model.reconstruct(x, 0).shape == x.shape


def test_labels_broadcast_over_leading_latent_dims():
    model = _model()
    z = torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(0))  # (S, N, D)
    y = torch.tensor([7, 2, 5])
    out = model.decode(z, y)
    assert out.shape == (4, 3, 1, 28, 28)
    assert torch.allclose(out[2, 1], model.decode(z[2, 1:2], 2)[0], atol=1e-6)


@pytest.mark.parametrize("call", ["encode", "decode", "decode_image", "forward", "reconstruct"])
def test_a_conditional_model_without_labels_raises(call):
    model = _model()
    arg = torch.zeros(2, 2) if call.startswith("decode") else _images(2)
    with pytest.raises(ValueError, match="conditional on 10 classes"):
        getattr(model, call)(arg)


@pytest.mark.parametrize("y, message", [
    (10, r"in 0\.\.9"), (-1, r"in 0\.\.9"), (torch.tensor([0.5, 1.0]), "integers"),
    (torch.tensor([1, 2, 3]), "do not fit"),
])
def test_bad_labels_raise(y, message):
    with pytest.raises(ValueError, match=message):
        _model().decode(torch.zeros(2, 2), y)


def test_an_unconditional_model_ignores_labels():
    model = _model(ModelConfig(latent_dim=2, hidden=(16,)))
    z, x = torch.zeros(2, 2), _images(2)
    assert model.num_classes == 0
    assert torch.equal(model.decode_image(z, 3), model.decode_image(z))
    assert torch.equal(model.encode(x, torch.tensor([1, 2])).mean, model.encode(x).mean)


@pytest.mark.parametrize("cfg", [CMLP, CCONV])
def test_checkpoint_round_trip_gives_identical_outputs(cfg, tmp_path):
    model = _model(cfg, seed=5)
    checkpoint.save(tmp_path / "m", model, "mnist")
    loaded = checkpoint.load(tmp_path / "m").model
    assert loaded.config == cfg and loaded.num_classes == cfg.num_classes
    x, z, y = _images(4), torch.randn(4, cfg.latent_dim), torch.arange(4) % cfg.num_classes
    with torch.no_grad():
        assert torch.equal(loaded.encode(x, y).mean, model.encode(x, y).mean)
        assert torch.equal(loaded.decode_image(z, y), model.decode_image(z, y))


def test_explore_functions_take_the_class():
    model, data = _model(), _data()
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    z = torch.randn(5, 2, generator=gen())
    assert torch.equal(explore.decode(model, z, labels=3), model.decode_image(z, 3))
    assert not torch.equal(explore.decode(model, z, labels=3), explore.decode(model, z, labels=4))
    x, y = data.float_images(slice(0, 6)), data.labels[:6]
    mean, std = explore.encode_images(model, x, labels=y)
    assert torch.equal(mean, model.encode(x, y).mean) and std.shape == (6, 2)
    assert explore.reconstruct(model, x, labels=y).shape == x.shape
    enc = explore.encode_dataset(model, data, batch_size=7)  # the dataset's own labels, in batches
    assert torch.allclose(enc.mean, model.encode(data.float_images(), data.labels).mean, atol=1e-6)
    ref = explore.neg_elbo(model, data.float_images(), gen(), samples=2, labels=data.labels)
    assert torch.allclose(explore.neg_elbo_dataset(model, data, gen(), samples=2, batch_size=1000), ref)
    recon, kl = explore.elbo_parts(model, x, gen(), samples=2, labels=y)
    assert recon.shape == kl.shape == (6,)
    assert explore.traversal(model, torch.zeros(2), 0, torch.linspace(-2, 2, 4), label=1).shape == (4, 1, 28, 28)
    samples = explore.sample_prior(model, 3, gen(), label=2)
    assert torch.equal(samples, model.decode_image(torch.randn(3, 2, generator=gen()), 2))
    with pytest.raises(ValueError, match="conditional"):
        explore.decode(model, z)


def test_manifold_decodes_the_grid_as_one_class():
    from vae.plane import LatentPlane
    model, data = _model(), _data()
    plane = LatentPlane.fit(explore.encode_dataset(model, data).mean)
    images, _ = explore.manifold(model, plane, 3, label=4)
    assert torch.equal(images, model.decode_image(plane.grid(3, 0.05, 0.95)[0], 4))


def test_evaluate_uses_the_labels():
    model, data = _model(), _data()
    m = evaluate(model, data, iwae_k=3)
    same = evaluate(model, data.float_images(), iwae_k=3, labels=data.labels)
    assert m["neg_elbo"] == pytest.approx(same["neg_elbo"]) and m["iwae_nll"] == pytest.approx(same["iwae_nll"])
    other = evaluate(model, data.float_images(), labels=(data.labels + 1) % 10)
    assert other["neg_elbo"] != pytest.approx(m["neg_elbo"])
    with pytest.raises(ValueError, match="give the images' labels"):
        evaluate(model, data.float_images())


def test_loss_and_the_ddp_shard_module_agree():
    model, x, y = _model(), _images(4), torch.tensor([0, 3, 3, 9])
    parts = elbo(model, x, generator=torch.Generator().manual_seed(8), labels=y)
    eps = torch.randn(4, 2, generator=torch.Generator().manual_seed(8))
    recon, kl = ShardELBO(model)(x, eps, y)
    assert torch.allclose(recon, parts.recon, atol=1e-4) and torch.allclose(kl, parts.kl)


def test_runspec_argv_round_trip_and_class_count_check():
    spec = RunSpec.create(DataSpec(name="mnist"), model={"arch": "cconv", "num_classes": 10, "latent_dim": 4})
    argv = spec.to_argv()
    assert argv[argv.index("--num-classes") + 1] == "10"
    assert spec_from_args(build_parser().parse_args(argv)) == spec
    assert spec_from_args(build_parser().parse_args(["--dataset", "shapes", "--arch", "cmlp"])).model.num_classes == 3
    with pytest.raises(ConfigError, match="mnist has 10; use --num-classes 10"):
        RunSpec.create(DataSpec(name="mnist"), model={"arch": "cmlp", "num_classes": 4})


def _train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vae.train", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def test_cli_trains_a_conditional_model_for_one_epoch(tmp_path):
    out = tmp_path / "cond"
    r = _train("--dataset", "shapes", "--arch", "cmlp", "--hidden", "32", "--latent-dim", "2", "--epochs", "1",
               "--limit", "512", "--batch-size", "128", "--threads", "1", "--no-progress", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "epoch 1/1 | train -ELBO" in r.stdout and "test -ELBO" in r.stdout
    card = checkpoint.read_card(out)
    assert card["model"]["arch"] == "cmlp" and card["model"]["num_classes"] == 3
    assert card["training"]["class_names"] == ["square", "ellipse", "heart"]
    assert card["training"]["global_step"] == 4 and card["metrics"]["n"] == 2000
    model = checkpoint.load(out).model
    assert model.decode_image(torch.zeros(3, 2), torch.arange(3)).shape == (3, 1, 28, 28)


@pytest.mark.parametrize("args, message", [
    (["--arch", "cmlp", "--num-classes", "5"], "conditional on 5 classes but shapes has 3"),
    (["--arch", "mlp", "--num-classes", "3"], "use cmlp for a class-conditional model"),
])
def test_cli_refuses_a_wrong_class_count(args, message, tmp_path):
    r = _train("--dataset", "shapes", "--epochs", "1", "--out", str(tmp_path / "x"), *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_shipped_conditional_model_draws_the_asked_digit_for_the_same_z(tmp_path):
    """The same z decoded as each of the ten digits gives ten different digits: the nearest of the
    2,000 shipped MNIST test-sample images (L2 on pixels: a classifier-free 1-NN check) has the
    asked class for >= 95% of 30 prior draws x 10 classes, and for at least 8 classes of every z.
    (An unconditional model, one image per z whatever the class, would score at most 10%.)"""
    from services.catalog import SHIPPED_DIR
    from vae.registry import load_dataset
    model = checkpoint.load(SHIPPED_DIR / "mnist-cond-2d").model
    data = load_dataset("mnist", "test", data_dir=tmp_path, download=False)  # the shipped sample, offline
    pixels = data.float_images().reshape(len(data), -1)
    z = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    asked = torch.arange(10).repeat(len(z))
    images = explore.decode(model, z.repeat_interleave(10, dim=0), labels=asked).reshape(len(asked), -1)
    nearest = data.labels[torch.cdist(images, pixels).argmin(dim=1)]
    hits = (nearest == asked).reshape(len(z), 10).sum(dim=1)
    assert hits.sum().item() >= 0.95 * len(asked), hits.tolist()
    assert hits.min().item() >= 8, hits.tolist()
