"""One description of a training run: :class:`RunSpec`, and :func:`prepare_run`, which turns it
into a model, data and (when resuming) training state.

The CLI (``python -m vae.train``) builds a RunSpec from its flags; the app's job registry stores one
as ``spec.json`` and its worker reads it back. ``RunSpec.to_argv()`` is the ``python -m vae.train``
argument list that reproduces a spec, and ``RunSpec.from_card`` the spec a checkpoint card describes.
Like the configs in :mod:`vae.config`, a RunSpec round-trips through strict JSON: unknown keys and
bad values raise :class:`ConfigError` with a message that says what is wrong.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import checkpoint
from .config import ConfigError, ModelConfig, TrainConfig, _JsonConfig
from .data.base import ImageData
from .data.folder import count_images
from .models import VAE, build_model
from .progress import TrainState
from .registry import DATASETS, FOLDER_PREFIX, SHAPES_SIZES, dataset_classes, dataset_names, load_dataset
from .trainer import Trainer

MODEL_DEFAULTS, TRAIN_DEFAULTS = ModelConfig(), TrainConfig()
# Training-split sizes of the registry's datasets, known without loading them (the full sets; a
# fallback to a shipped sample is smaller, so estimates from these are upper bounds).
TRAIN_IMAGES = {"mnist": 60_000, "fashion-mnist": 60_000, "shapes": SHAPES_SIZES["train"][0],
                "shapes-64": SHAPES_SIZES["train"][0]}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_optional_str(name: str, value: Any) -> None:
    if value is not None and not (isinstance(value, str) and value):
        raise ConfigError(f"{name} must be a non-empty string or null, got {value!r}")


@dataclass(frozen=True)
class DataSpec(_JsonConfig):
    """Which images to train on. ``channels``/``size`` apply to ``folder:PATH`` datasets only;
    ``limit`` trains on the first N training images (0 = all); ``test`` evaluates on the test
    split after every epoch; ``allow_sample`` lets MNIST-like sets fall back to the shipped sample."""

    name: str
    data_dir: str | None = None
    channels: int = 1
    size: int = 28
    allow_sample: bool = False
    limit: int = 0
    test: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not (self.name in DATASETS or (
                self.name.startswith(FOLDER_PREFIX) and len(self.name) > len(FOLDER_PREFIX))):
            raise ConfigError(f"unknown dataset {self.name!r}; choose one of: {', '.join(dataset_names())}")
        _check_optional_str("data_dir", self.data_dir)
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ConfigError(f"channels must be 1 (grayscale) or 3 (RGB), got {self.channels!r}")
        if not _is_int(self.size) or not 4 <= self.size <= 256:
            raise ConfigError(f"size must be an integer in 4..256 pixels per side, got {self.size!r}")
        for name in ("allow_sample", "test"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not _is_int(self.limit) or self.limit < 0:
            raise ConfigError(f"limit must be an integer >= 0 (0 = all images), got {self.limit!r}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the dataset's images."""
        if self.name in DATASETS:
            return DATASETS[self.name].image_shape
        return (self.channels, self.size, self.size)

    def train_values(self, count_folder: Callable[[Path], int] | None = None) -> int:
        """An upper bound of images x channels x height x width of the training set, found
        without loading (or decoding) any image: a registry dataset's known size, or the number of
        image files of a ``folder:`` dataset (``count_folder(path)``; default:
        :func:`vae.data.folder.count_images`), at most ``limit`` of them."""
        if self.name in DATASETS:
            images = TRAIN_IMAGES[self.name]
        else:
            images = (count_folder or _count_folder_images)(Path(self.name[len(FOLDER_PREFIX):]).expanduser())
        if self.limit:
            images = min(images, self.limit)
        c, h, w = self.image_shape
        return images * c * h * w


@dataclass(frozen=True)
class RunSpec:
    """A whole training run. ``model`` is the full ModelConfig (its image shape is the data's);
    ``out`` is the folder the model is saved to (None: ``resume``, else ``runs/DATASET-ARCH-DIMd``);
    ``resume`` a checkpoint folder (with training state) to continue. ``device``, ``threads``
    (0 = torch's default) and ``final_iwae_k`` (importance samples for the final test-set IWAE
    estimate; 0 = skip) are how to run it."""

    data: DataSpec
    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    out: str | None = None
    resume: str | None = None
    device: str = "auto"
    threads: int = 0
    final_iwae_k: int = 0

    def __post_init__(self) -> None:
        for name, kind in (("data", DataSpec), ("model", ModelConfig), ("train", TrainConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(f"RunSpec.{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")
        if self.model.image_shape != self.data.image_shape:
            raise ConfigError(f"the model expects {self.model.image_shape} images but {self.data.name} has "
                              f"{self.data.image_shape}")
        known = dataset_classes(self.data.name)
        if self.model.conditional and known is not None and known != self.model.num_classes:
            raise ConfigError(classes_mismatch(self.model, self.data.name, known))
        _check_optional_str("out", self.out)
        _check_optional_str("resume", self.resume)
        if not isinstance(self.device, str) or not self.device:
            raise ConfigError(f"device must be a non-empty string such as auto, cpu or cuda, got {self.device!r}")
        for name in ("threads", "final_iwae_k"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")

    @classmethod
    def create(cls, data: DataSpec, model: ModelConfig | dict | None = None,
               train: TrainConfig | dict | None = None, **options: Any) -> RunSpec:
        """A spec whose model takes its image shape (channels, height, width) from ``data``;
        ``model``/``train`` may be partial dicts of fields (the rest are defaults)."""
        fields = model.to_dict() if isinstance(model, ModelConfig) else dict(model or {})
        c, h, w = data.image_shape
        mcfg = ModelConfig.from_dict({**fields, "channels": c, "height": h, "width": w})
        tcfg = train if isinstance(train, TrainConfig) else TrainConfig.from_dict(dict(train or {}))
        return cls(data=data, model=mcfg, train=tcfg, **options)

    @classmethod
    def from_card(cls, card: dict, out: str | None = None, data_dir: str | None = None) -> RunSpec:
        """The run a checkpoint card (``config.json``) describes: its dataset, model, training
        config and data (as recorded by :meth:`PreparedRun.summary`; for older cards the dataset
        and data folder). ``data_dir`` overrides the recorded data folder."""
        training = card.get("training") or {}
        model = ModelConfig.from_dict(card.get("model"))
        if isinstance(training.get("data"), dict):
            data = DataSpec.from_dict(training["data"])
        else:
            name = str(card.get("dataset", ""))
            shape = {"channels": model.channels, "size": model.height} if name.startswith(FOLDER_PREFIX) else {}
            data = DataSpec(name=name, data_dir=training.get("data_dir"), **shape)
        data = dataclasses.replace(data, data_dir=data_dir or data.data_dir)
        return cls(data=data, model=model, train=TrainConfig.from_dict(training.get("config") or {}), out=out)

    @property
    def out_dir(self) -> Path:
        """Where the model is saved: ``out``, else the resumed folder, else ``runs/DATASET-ARCH-DIMd``."""
        if self.out:
            return Path(self.out)
        if self.resume:
            return Path(self.resume)
        name = self.data.name.replace(":", "-").replace("/", "_")
        return Path(f"runs/{name}-{self.model.arch}-{self.model.latent_dim}d")

    # ----- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**out, "data": self.data.to_dict(), "model": self.model.to_dict(), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        if not isinstance(data, dict):
            raise ConfigError(f"RunSpec must be a JSON object, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"unknown RunSpec key(s): {', '.join(unknown)}; allowed: {', '.join(names)}")
        missing = [k for k in ("data", "model") if k not in data]
        if missing:
            raise ConfigError(f"RunSpec needs key(s): {', '.join(missing)}")
        try:
            parts = {"data": DataSpec.from_dict(data["data"]), "model": ModelConfig.from_dict(data["model"]),
                     "train": TrainConfig.from_dict(data.get("train", {}))}
            return cls(**{**data, **parts})
        except TypeError as exc:  # a missing required field or a value of the wrong type
            raise ConfigError(f"invalid RunSpec: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"a RunSpec must be JSON: {exc}") from None
        return cls.from_dict(data)

    # ----- command line -------------------------------------------------------------------
    def to_argv(self) -> list[str]:
        """The ``python -m vae.train`` arguments that reproduce this spec: the dataset, the
        architecture, latent size and layer sizes, epochs/beta/seed, and every other setting that
        is not the default."""
        return [*self._data_argv(), *self._model_argv(), *self._train_argv(), *self._run_argv()]

    def _data_argv(self) -> list[str]:
        d = self.data
        argv = ["--dataset", d.name] + (["--data-dir", d.data_dir] if d.data_dir else [])
        argv += ["--allow-sample"] if d.allow_sample else []
        argv += ["--limit", str(d.limit)] if d.limit or self.resume else []  # resuming: else the card's limit
        argv += ["--channels", str(d.channels)] if d.channels != 1 else []
        return argv + (["--image-size", str(d.size)] if d.size != 28 else [])

    def _model_argv(self) -> list[str]:
        m, argv = self.model, ["--arch", self.model.arch, "--latent-dim", str(self.model.latent_dim)]
        argv += ["--num-classes", str(m.num_classes)] if m.conditional else []
        always = {"mlp": ("hidden",), "conv": ("conv_channels", "conv_fc")}[m.base_arch] + (
            ("sigma",) if m.likelihood == "gaussian" else ())
        for key, flag in (("hidden", "--hidden"), ("conv_channels", "--conv-channels"), ("conv_fc", "--conv-fc"),
                          ("activation", "--activation"), ("likelihood", "--likelihood"), ("sigma", "--sigma")):
            value = getattr(m, key)
            if key in always or value != getattr(MODEL_DEFAULTS, key):
                argv += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else _num(value)]
        return argv + (["--learn-sigma"] if m.learn_sigma else [])

    def _train_argv(self) -> list[str]:
        argv: list[str] = []
        for key, flag in (("epochs", "--epochs"), ("batch_size", "--batch-size"), ("lr", "--lr"), ("beta", "--beta"),
                          ("kl_warmup_epochs", "--kl-warmup"), ("grad_clip", "--grad-clip"), ("seed", "--seed"),
                          ("eval_batch_size", "--eval-batch-size")):
            value = getattr(self.train, key)
            if key in ("epochs", "beta", "seed") or value != getattr(TRAIN_DEFAULTS, key):
                argv += [flag, _num(value)]
        return argv

    def _run_argv(self) -> list[str]:
        argv = ["--device", self.device] if self.device != "auto" else []
        argv += ["--threads", str(self.threads)] if self.threads else []
        argv += ["--no-test"] if not self.data.test else []
        argv += ["--final-iwae-k", str(self.final_iwae_k)] if self.final_iwae_k else []
        argv += ["--resume", self.resume] if self.resume else []
        return argv + (["--out", self.out] if self.out else [])


def classes_mismatch(model: ModelConfig, dataset: str, classes: int) -> str:
    """The message for a conditional model whose class count is not its dataset's."""
    return (f"the {model.arch} model is conditional on {model.num_classes} classes but {dataset} has {classes}; "
            f"use --num-classes {classes} (or leave it out)")


def _count_folder_images(root: Path) -> int:
    """Image files under ``root`` (by name; none is opened), 0 for a missing folder."""
    return count_images(root) if root.is_dir() else 0


def _num(value: Any) -> str:
    """A number as a flag value: short (``1``, ``0.001``) where that is exact, else repr."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


@dataclass
class PreparedRun:
    """What :func:`prepare_run` loaded: the model (fresh or resumed), the training data (first
    ``limit`` images), the test data (None with ``test`` off) and the training state to continue."""

    spec: RunSpec
    model: VAE
    train: ImageData
    test: ImageData | None
    state: TrainState | None

    @property
    def out(self) -> Path:
        return self.spec.out_dir

    def summary(self, trainer: Trainer) -> dict:
        """The training record for a checkpoint card: the trainer's summary plus this run's data
        (so ``--resume`` and :meth:`RunSpec.from_card` train on the same images)."""
        out = {**trainer.summary(self.train.source, self.spec.data.data_dir), "data": self.spec.data.to_dict()}
        if self.spec.model.conditional:  # the names of the classes the model is conditioned on
            out["class_names"] = list(self.train.classes)
        return out


def _resumed(spec: RunSpec) -> tuple[VAE, TrainState]:
    ckpt = checkpoint.load(spec.resume)
    state = checkpoint.load_train_state(spec.resume)
    if state is None:
        raise checkpoint.CheckpointError(f"{spec.resume} has no training state to resume (was it a final export?)")
    if ckpt.config != spec.model or ckpt.dataset != spec.data.name:
        raise ConfigError(f"{spec.resume} holds a {ckpt.dataset} model {ckpt.config.to_dict()}, not the run's "
                          f"{spec.data.name} model {spec.model.to_dict()}")
    return ckpt.model, state


def prepare_run(spec: RunSpec) -> PreparedRun:
    """Load the data and build the model (seeded by ``train.seed``) or, with ``resume``, load the
    model and training state from that checkpoint (checked first, so a bad request fails before
    any data is read). Raises ConfigError, CheckpointError, DatasetUnavailable or ValueError."""
    model, state = _resumed(spec) if spec.resume else (None, None)
    d = spec.data
    kw = {"data_dir": d.data_dir, "channels": d.channels, "size": d.size}
    train = load_dataset(d.name, "train", allow_sample=d.allow_sample, **kw)
    if spec.model.conditional and len(train.classes) != spec.model.num_classes:
        raise ConfigError(classes_mismatch(spec.model, d.name, len(train.classes)))
    if d.limit:
        train = train.subset(torch.arange(min(d.limit, len(train))))
    test = load_dataset(d.name, "test", **kw) if d.test else None
    if model is None:
        model = build_model(spec.model, generator=torch.Generator().manual_seed(spec.train.seed))
    return PreparedRun(spec=spec, model=model, train=train, test=test, state=state)


__all__ = ["DataSpec", "PreparedRun", "RunSpec", "prepare_run"]
