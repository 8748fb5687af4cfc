"""Configuration dataclasses: a :class:`ModelConfig` builds a :class:`vae.models.VAE`.

Both configs round-trip through plain JSON dictionaries. Unknown keys are an error, so a
typo in a saved ``config.json`` or a CLI preset is caught instead of silently ignored.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

ARCHS = ("mlp", "conv", "cmlp", "cconv")
CONDITIONAL_ARCHS = ("cmlp", "cconv")  # class-conditional: need num_classes >= 2
MAX_CLASSES = 1000
LIKELIHOODS = ("bernoulli", "gaussian")
ACTIVATIONS = ("relu", "elu", "silu")
MAX_LATENT_DIM = 128

T = TypeVar("T", bound="_JsonConfig")


class ConfigError(ValueError):
    """A configuration value or key is invalid."""


class _JsonConfig:
    """Mixin: strict ``to_dict``/``from_dict`` for flat dataclasses of JSON-able values."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(
                f"unknown {cls.__name__} key(s): {', '.join(unknown)}; "
                f"allowed: {', '.join(names)}"
            )
        kwargs = {}
        for key, value in data.items():
            kwargs[key] = tuple(value) if isinstance(value, list) else value
        return cls(**kwargs)


@dataclass(frozen=True)
class ModelConfig(_JsonConfig):
    """Everything needed to build a VAE (the weights come from a checkpoint).

    Images are ``(channels, height, width)`` floats in [0, 1].
    ``hidden`` is used by the MLP, ``conv_channels``/``conv_fc`` by the conv architecture.
    ``likelihood`` is the decoder's p(x|z): ``bernoulli`` (logits, BCE) or ``gaussian``
    (mean, MSE-like with scale ``sigma``; ``learn_sigma`` makes the log-scale a parameter).
    ``cmlp``/``cconv`` are the class-conditional versions of ``mlp``/``conv`` (a conditional VAE,
    Sohn et al. 2015: q(z|x, y) and p(x|z, y) with a one-hot label y of ``num_classes`` classes);
    ``num_classes`` is 0 for the unconditional ones.
    """

    arch: str = "mlp"
    channels: int = 1
    height: int = 28
    width: int = 28
    latent_dim: int = 2
    hidden: tuple[int, ...] = (512, 256)
    conv_channels: tuple[int, ...] = (32, 64)
    conv_fc: int = 256
    activation: str = "relu"
    likelihood: str = "bernoulli"
    sigma: float = 0.1
    learn_sigma: bool = False
    num_classes: int = 0

    def __post_init__(self) -> None:
        _check_choice("arch", self.arch, ARCHS)
        _check_classes(self.arch, self.num_classes)
        _check_choice("likelihood", self.likelihood, LIKELIHOODS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 (grayscale) or 3 (RGB), got {self.channels}")
        if not (4 <= self.height <= 256 and 4 <= self.width <= 256):
            raise ConfigError(f"image size must be 4..256 pixels per side, got {self.height}x{self.width}")
        if not isinstance(self.latent_dim, int) or not 1 <= self.latent_dim <= MAX_LATENT_DIM:
            raise ConfigError(f"latent_dim must be an integer in 1..{MAX_LATENT_DIM}, got {self.latent_dim!r}")
        for name in ("hidden", "conv_channels"):
            sizes = getattr(self, name)
            if not sizes or any((not isinstance(s, int)) or s < 1 for s in sizes):
                raise ConfigError(f"{name} must be a non-empty list of positive integers, got {sizes!r}")
        if self.conv_fc < 1:
            raise ConfigError(f"conv_fc must be positive, got {self.conv_fc}")
        if not self.sigma > 0:
            raise ConfigError(f"sigma must be > 0, got {self.sigma}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``num_classes`` only for a conditional model, so an unconditional model's
        dict (and card) is the same as before conditional models existed."""
        out = super().to_dict()
        if not self.num_classes:
            del out["num_classes"]
        return out

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def num_pixels(self) -> int:
        return self.channels * self.height * self.width

    @property
    def conditional(self) -> bool:
        """True for the class-conditional architectures (``cmlp``, ``cconv``)."""
        return self.arch in CONDITIONAL_ARCHS

    @property
    def base_arch(self) -> str:
        """The network shape without the conditioning: ``mlp`` or ``conv``."""
        return self.arch[1:] if self.conditional else self.arch


@dataclass(frozen=True)
class TrainConfig(_JsonConfig):
    """Optimisation settings. ``beta`` weights the KL term (beta-VAE, Higgins et al. 2017);
    ``kl_warmup_epochs`` ramps that weight linearly from 0 to ``beta`` (Bowman et al. 2016)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    kl_warmup_epochs: float = 0.0
    seed: int = 0
    grad_clip: float = 0.0
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.beta < 0:
            raise ConfigError(f"beta must be >= 0, got {self.beta}")
        if self.kl_warmup_epochs < 0:
            raise ConfigError(f"kl_warmup_epochs must be >= 0, got {self.kl_warmup_epochs}")
        if self.grad_clip < 0:
            raise ConfigError(f"grad_clip must be >= 0 (0 = off), got {self.grad_clip}")


def _check_classes(arch: str, num_classes: Any) -> None:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool):
        raise ConfigError(f"num_classes must be an integer, got {num_classes!r}")
    if arch in CONDITIONAL_ARCHS:
        if not 2 <= num_classes <= MAX_CLASSES:
            raise ConfigError(f"arch {arch} is class-conditional: num_classes must be the number of classes of the "
                              f"data, 2..{MAX_CLASSES}, got {num_classes}")
    elif num_classes != 0:
        raise ConfigError(f"arch {arch} is unconditional: num_classes must be 0, got {num_classes}; "
                          f"use c{arch} for a class-conditional model")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


__all__ = ["ARCHS", "ACTIVATIONS", "CONDITIONAL_ARCHS", "MAX_CLASSES", "LIKELIHOODS", "ConfigError", "ModelConfig",
           "TrainConfig"]
