"""RunSpec: strict JSON, the CLI argument list that reproduces it, and prepare_run on shapes."""
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from vae import checkpoint, registry
from vae.config import ConfigError, ModelConfig, TrainConfig
from vae.runspec import DataSpec, RunSpec, prepare_run
from vae.train import build_parser, spec_from_args
from vae.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


def small(data_dir=None, **options) -> RunSpec:
    return RunSpec.create(DataSpec(name="shapes", limit=300, data_dir=data_dir),
                          model={"hidden": [32], "latent_dim": 3}, train={"epochs": 1, "batch_size": 100, "seed": 5},
                          device="cpu", threads=1, **options)


SPECS = {
    "defaults": RunSpec.create(DataSpec(name="shapes")),
    "small": small(out="runs/small"),
    "conv-everything": RunSpec(
        data=DataSpec(name="fashion-mnist", data_dir="/data/here", allow_sample=True, limit=1000, test=False),
        model=ModelConfig(arch="conv", latent_dim=16, hidden=(64,), conv_channels=(16, 32, 64), conv_fc=128,
                          activation="silu", likelihood="gaussian", sigma=0.05, learn_sigma=True),
        train=TrainConfig(epochs=7, batch_size=64, lr=3e-4, beta=0.1 + 0.2, kl_warmup_epochs=2.5, seed=11,
                          grad_clip=5.0, eval_batch_size=250),
        out="runs/x y", device="cpu", threads=2, final_iwae_k=50),
    "folder-rgb": RunSpec.create(DataSpec(name="folder:/tmp/my images", channels=3, size=32),
                                 model={"arch": "conv", "latent_dim": 8}),
    "shapes-64": RunSpec.create(DataSpec(name="shapes-64"), model={"latent_dim": 5}, train={"beta": 4.0}),
}


@pytest.mark.parametrize("name", SPECS)
def test_round_trips_through_dict_and_json(name):
    spec = SPECS[name]
    assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert RunSpec.from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json())["model"]["height"] == spec.data.image_shape[1]


@pytest.mark.parametrize("name", SPECS)
def test_to_argv_parses_back_to_the_same_spec(name):
    spec = SPECS[name]
    argv = spec.to_argv()
    assert spec_from_args(build_parser().parse_args(argv)) == spec
    assert ("--data-dir" in argv) == (spec.data.data_dir is not None)  # never a made-up data folder


def test_to_argv_keeps_the_bench_style_for_a_shipped_card():
    card = checkpoint.read_card(ROOT / "models" / "mnist-2d")
    argv = RunSpec.from_card(card, out="runs/mnist-2d").to_argv()
    assert " ".join(argv) == ("--dataset mnist --data-dir ../shared/data --arch mlp --latent-dim 2 --hidden 512,256 "
                              "--epochs 60 --beta 1 --seed 0 --out runs/mnist-2d")
    shapes = RunSpec.from_card(checkpoint.read_card(ROOT / "models" / "shapes"), out="runs/shapes")
    assert "--data-dir" not in shapes.to_argv() and shapes.model.latent_dim == 7 and shapes.train.beta == 2


def test_create_takes_the_image_shape_from_the_data():
    spec = RunSpec.create(DataSpec(name="folder:/x", channels=3, size=40), model=ModelConfig(arch="conv"))
    assert spec.model.image_shape == (3, 40, 40) and spec.model.arch == "conv"
    assert RunSpec.create(DataSpec(name="shapes-64")).model.image_shape == (1, 64, 64)


def test_default_output_folder():
    assert SPECS["defaults"].out_dir == Path("runs/shapes-mlp-2d")
    assert SPECS["folder-rgb"].out_dir == Path("runs/folder-_tmp_my images-conv-8d")
    assert dataclasses.replace(SPECS["defaults"], resume="runs/old").out_dir == Path("runs/old")
    assert SPECS["small"].out_dir == Path("runs/small")


def _dict(**changes) -> dict:
    d = SPECS["small"].to_dict()
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = d
        for p in parents:
            target = target[p]
        target[key] = value
    return d


@pytest.mark.parametrize("data, message", [
    (_dict(typo=1), "unknown RunSpec key(s): typo"),
    (_dict(data__colour=3), "unknown DataSpec key(s): colour"),
    (_dict(model__depth=3), "unknown ModelConfig key(s): depth"),
    (_dict(train__epoch=3), "unknown TrainConfig key(s): epoch"),
    ({"model": SPECS["small"].to_dict()["model"]}, "needs key(s): data"),
    ([1, 2], "must be a JSON object"),
    (_dict(data=None), "DataSpec must be a JSON object"),
    (_dict(data__name="cifar"), "unknown dataset 'cifar'"),
    (_dict(data__name="folder:"), "unknown dataset 'folder:'"),
    (_dict(data__limit=-1), "limit must be an integer >= 0"),
    (_dict(data__limit=1.5), "limit must be an integer >= 0"),
    (_dict(data__test="yes"), "test must be true or false"),
    (_dict(data__channels=2), "channels must be 1 (grayscale) or 3"),
    (_dict(data__data_dir=""), "data_dir must be a non-empty string"),
    (_dict(data__name="shapes-64"), "the model expects (1, 28, 28) images but shapes-64 has (1, 64, 64)"),
    (_dict(model__latent_dim=500), "latent_dim must be an integer in 1..128"),
    (_dict(train__epochs="3"), "invalid RunSpec"),
    (_dict(train__epochs=0), "epochs must be >= 1"),
    (_dict(threads=-1), "threads must be an integer >= 0"),
    (_dict(threads=True), "threads must be an integer >= 0"),
    (_dict(final_iwae_k=None), "final_iwae_k must be an integer >= 0"),
    (_dict(device=""), "device must be a non-empty string"),
    (_dict(out=""), "out must be a non-empty string or null"),
    (_dict(resume=3), "resume must be a non-empty string or null"),
])
def test_bad_specs_are_refused_with_a_reason(data, message):
    with pytest.raises(ConfigError) as info:
        RunSpec.from_dict(data)
    assert message in str(info.value)


def test_bad_json_is_a_config_error():
    with pytest.raises(ConfigError, match="must be JSON"):
        RunSpec.from_json('{"data": ')


@pytest.fixture
def fewer_shapes(monkeypatch):
    """The procedural shapes set, generated smaller (it is real data; just faster to make)."""
    monkeypatch.setitem(registry.SHAPES_SIZES, "train", (1000, 0))
    monkeypatch.setitem(registry.SHAPES_SIZES, "test", (200, 1))


def test_prepare_run_builds_a_seeded_model_on_limited_data(fewer_shapes):
    spec = small()
    a, b = prepare_run(spec), prepare_run(spec)
    assert a.model.config == spec.model and a.state is None
    assert len(a.train) == 300 and a.train.image_shape == (1, 28, 28) and len(a.test) == 200
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k  # seeded by train.seed
    other = prepare_run(dataclasses.replace(spec, train=dataclasses.replace(spec.train, seed=6)))
    assert not all(torch.equal(va, vo) for va, vo in zip(a.model.state_dict().values(),
                                                          other.model.state_dict().values()))
    no_test = prepare_run(dataclasses.replace(spec, data=dataclasses.replace(spec.data, test=False, limit=0)))
    assert no_test.test is None and len(no_test.train) == 1000


@pytest.fixture
def trained(tmp_path, fewer_shapes) -> tuple[Path, RunSpec]:
    """A one-epoch shapes run saved with its training state, as the CLI and the worker save it."""
    spec = small(data_dir="/recorded/data")
    prep = prepare_run(spec)
    trainer = Trainer(prep.model, prep.train, spec.train)
    result = trainer.fit()
    out = tmp_path / "run"
    checkpoint.save(out, trainer.model, "shapes", state=result.state, training=prep.summary(trainer))
    return out, spec


def test_prepare_run_resumes_model_and_state(trained):
    out, spec = trained
    resumed = prepare_run(dataclasses.replace(spec, resume=str(out), train=dataclasses.replace(spec.train, epochs=2)))
    saved = checkpoint.load(out).model.state_dict()
    assert resumed.state is not None and resumed.state.epoch == 1 and resumed.state.global_step == 3
    assert all(torch.equal(v, saved[k]) for k, v in resumed.model.state_dict().items())
    assert resumed.out == out  # no --out: continue in place


def test_resume_refuses_a_checkpoint_without_state_or_of_another_model(trained, tmp_path):
    out, spec = trained
    final = tmp_path / "final"
    checkpoint.save(final, checkpoint.load(out).model, "shapes")
    with pytest.raises(checkpoint.CheckpointError, match="no training state"):
        prepare_run(dataclasses.replace(spec, resume=str(final)))
    other = RunSpec.create(spec.data, model={"hidden": [32], "latent_dim": 4}, resume=str(out))
    with pytest.raises(ConfigError, match="not the run's"):
        prepare_run(other)
    with pytest.raises(checkpoint.CheckpointError, match="is not a folder"):
        prepare_run(dataclasses.replace(spec, resume=str(tmp_path / "missing")))


def test_cli_resume_takes_the_run_from_the_card(trained):
    out, spec = trained
    args = build_parser().parse_args(["--resume", str(out), "--epochs", "3", "--dataset", "mnist", "--latent-dim", "9"])
    resumed = spec_from_args(args)
    assert resumed.data == spec.data and resumed.model == spec.model  # the card's, not the flags'
    assert resumed.data.data_dir == "/recorded/data" and resumed.data.limit == 300  # the same images as before
    assert resumed.train == dataclasses.replace(spec.train, epochs=3)
    assert resumed.resume == str(out) and resumed.out is None
    again = spec_from_args(build_parser().parse_args(resumed.to_argv()))
    assert again == resumed
    flagged = spec_from_args(build_parser().parse_args(["--resume", str(out), "--data-dir", "/elsewhere",
                                                        "--limit", "0", "--no-test"]))
    assert flagged.data == dataclasses.replace(spec.data, data_dir="/elsewhere", limit=0, test=False)
    assert flagged.train == spec.train


def test_cli_resume_of_an_older_card_uses_its_dataset_and_data_folder(trained):
    out, spec = trained
    card = checkpoint.read_card(out)
    del card["training"]["data"]  # cards written before the run's data was recorded
    card["training"]["data_dir"] = "/old/data"
    legacy = RunSpec.from_card(card)
    assert legacy.data == DataSpec(name="shapes", data_dir="/old/data") and legacy.model == spec.model
    assert RunSpec.from_card(card, data_dir="/new").data.data_dir == "/new"
