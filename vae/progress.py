"""What training reports and what resuming needs, shared by the trainer, checkpoints and the
job worker without an import cycle: :class:`StepReport`, :class:`EpochReport` and the resumable
:class:`TrainState`."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class StepReport:
    """After each optimiser step. Losses are batch means in nats per image."""

    epoch: int  # 1-based epoch in progress
    epochs: int
    step: int  # global step, 1-based
    epoch_step: int  # step within the epoch, 1-based
    steps_per_epoch: int
    recon: float
    kl: float
    loss: float
    kl_weight: float
    samples_per_s: float
    eta_s: float


@dataclass(frozen=True)
class EpochReport:
    """After each full epoch: train means, test metrics (or None), timing."""

    epoch: int
    epochs: int
    train: dict
    test: dict | None
    seconds: float
    samples_per_s: float
    eta_s: float

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "train": self.train, "test": self.test,
                "seconds": round(self.seconds, 3), "samples_per_s": round(self.samples_per_s, 1)}


@dataclass
class TrainState:
    """Everything beyond the weights that resuming needs. ``perm`` is the shuffling of the
    epoch in progress (None between epochs); ``history`` holds one EpochReport dict per epoch."""

    epoch: int = 0  # completed epochs
    epoch_step: int = 0  # steps done in the epoch in progress
    global_step: int = 0
    perm: torch.Tensor | None = None
    shuffle_rng: torch.Tensor | None = None
    noise_rng: torch.Tensor | None = None
    optimizer: dict | None = None
    epoch_sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])  # recon, kl, loss, images
    history: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0
