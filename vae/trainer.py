"""The training loop, usable from code (the CLI and the app's job runner both use it).

Data is preloaded once as a float tensor on the device and batches are gathered by index,
so an epoch never decodes images one by one. All randomness (shuffling, reparameterisation
noise) comes from the trainer's own seeded ``torch.Generator``s, whose states are part of
the resumable :class:`TrainState`.

Inside an initialised process group of several ranks (``torchrun``, see :mod:`vae.distributed`)
the trainer is data-parallel: ``batch_size`` stays the global batch, every rank draws the same
permutation and the same noise for it and computes its contiguous share, DDP averages the
gradients, and reported losses are all-reduced, so every rank's history equals one process's.
The per-epoch test evaluation runs on rank 0 only (other ranks report ``test=None``).
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import distributed
from .config import TrainConfig
from .data.base import ImageData
from .losses import elbo, kl_weight
from .metrics import evaluate
from .models import VAE
from .progress import EpochReport, StepReport, TrainState


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says where and what to try."""


@dataclass(frozen=True)
class TrainResult:
    stopped: bool  # True when the stop event ended training early
    state: TrainState


class Trainer:
    """Fits ``model`` on ``train`` with Adam on the beta-weighted negative ELBO.

    ``on_step(StepReport)`` runs after every step, ``on_epoch(EpochReport)`` after every epoch
    (the place to save a checkpoint). Setting ``stop_event`` ends training after the current
    step; the returned state resumes exactly where it stopped. With several ranks, training stops
    after the first step at which any rank's event was set, on every rank together.
    """

    def __init__(self, model: VAE, train: ImageData, config: TrainConfig, test: ImageData | None = None,
                 device: torch.device | str = "cpu", on_step: Callable[[StepReport], None] | None = None,
                 on_epoch: Callable[[EpochReport], None] | None = None,
                 stop_event: threading.Event | None = None, state: TrainState | None = None) -> None:
        if train.image_shape != model.config.image_shape:
            raise ValueError(f"data images are {train.image_shape} but the model expects {model.config.image_shape}")
        if len(train) == 0:
            raise ValueError("the training set is empty")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.config = config
        self.test = test
        self.on_step, self.on_epoch = on_step, on_epoch
        self.stop_event = stop_event or threading.Event()
        self.x = train.float_images().to(self.device)  # (N, C, H, W) float32, preloaded once
        self.y = _labels_for(model, train, self.device)  # (N,) int64 for a conditional model, else None
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.shuffle_gen = torch.Generator().manual_seed(config.seed)
        self.noise_gen = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self.world = distributed.current()
        self._ddp = distributed.wrap(self.model, self.device) if self.world.size > 1 else None
        self._stop_agreed = False  # several ranks: some rank's stop event was set (all-reduced each step)
        self.state = state or TrainState()
        if state is not None:
            self._restore(state)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.x) / self.config.batch_size)

    def _restore(self, state: TrainState) -> None:
        if state.optimizer is not None:
            self.optimizer.load_state_dict(state.optimizer)
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.lr
        if state.shuffle_rng is not None:
            self.shuffle_gen.set_state(state.shuffle_rng)
        if state.noise_rng is not None:
            self.noise_gen.set_state(state.noise_rng)

    def snapshot(self) -> TrainState:
        """The current resumable state (tensors are copies/CPU)."""
        s = self.state
        s.optimizer = self.optimizer.state_dict()
        s.shuffle_rng = self.shuffle_gen.get_state()
        s.noise_rng = self.noise_gen.get_state()
        return s

    def summary(self, train_source: str = "", data_dir: str | None = None) -> dict:
        """The JSON-able training record a checkpoint card keeps (config, progress, timing, history)."""
        st = self.state
        return {"config": self.config.to_dict(), "epochs_done": st.epoch, "global_step": st.global_step,
                "data_dir": data_dir, "wall_seconds": round(st.wall_seconds, 2), "device": str(self.device),
                "threads": torch.get_num_threads(), "processes": self.world.size, "train_data": train_source,
                "history": st.history}

    def fit(self) -> TrainResult:
        """Train until ``config.epochs`` epochs are complete or the stop event is set."""
        self.model.train()
        while self.state.epoch < self.config.epochs:
            if not self._run_epoch():
                return TrainResult(stopped=True, state=self.snapshot())
        return TrainResult(stopped=False, state=self.snapshot())

    def _run_epoch(self) -> bool:
        """One (possibly resumed) epoch; False if stopped part-way."""
        st, cfg = self.state, self.config
        if st.perm is None:
            st.perm, st.epoch_step = torch.randperm(len(self.x), generator=self.shuffle_gen), 0
            st.epoch_sums = [0.0, 0.0, 0.0, 0.0]
        sums, t0, seen = st.epoch_sums, time.perf_counter(), 0
        try:
            while st.epoch_step < self.steps_per_epoch:
                if self._stop_requested():
                    return False
                idx = st.perm[st.epoch_step * cfg.batch_size:(st.epoch_step + 1) * cfg.batch_size]
                weight = kl_weight(cfg.beta, st.epoch + st.epoch_step / self.steps_per_epoch, cfg.kl_warmup_epochs)
                recon, kl, loss = self._step(idx, weight)
                n = len(idx)
                sums[0] += recon * n
                sums[1] += kl * n
                sums[2] += loss * n
                sums[3] += n
                seen += n
                st.epoch_step += 1
                st.global_step += 1
                if self.on_step is not None:
                    self.on_step(self._step_report(recon, kl, loss, weight, seen / (time.perf_counter() - t0)))
        finally:
            st.wall_seconds += time.perf_counter() - t0
        self._finish_epoch(sums, time.perf_counter() - t0, seen)
        return True

    def _stop_requested(self) -> bool:
        """One process: the stop event. Several: whether the last step's all-reduce saw any rank's
        event set, so that all ranks stop after the same step (then cleared for a later ``fit``)."""
        if self._ddp is None:
            return self.stop_event.is_set()
        agreed, self._stop_agreed = self._stop_agreed, False
        return agreed

    def _step(self, idx: torch.Tensor, weight: float) -> tuple[float, float, float]:
        """One optimiser step on the global batch ``idx`` (B,) of image indices; returns batch means."""
        loss, (recon, kl, total) = self._local_loss(idx, weight) if self._ddp is None else self._shard_loss(idx, weight)
        if not math.isfinite(total):
            raise TrainingDiverged(
                f"the loss became {total} at epoch {self.state.epoch + 1}, step {self.state.epoch_step + 1} "
                f"(reconstruction {recon:.4g}, KL {kl:.4g}); the weights are left as they were after the last "
                f"good step. Try a lower learning rate (now {self.config.lr:g}) or a gradient clip."
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return recon, kl, total

    def _local_loss(self, idx: torch.Tensor, weight: float) -> tuple[torch.Tensor, tuple[float, float, float]]:
        """One process: the batch-mean loss of ``idx`` (B,) and its (recon, KL, total) means."""
        idx = idx.to(self.device)
        parts = elbo(self.model, self.x[idx], beta=weight, generator=self.noise_gen,
                     labels=None if self.y is None else self.y[idx])
        loss = parts.total.mean()
        return loss, (parts.recon.mean().item(), parts.kl.mean().item(), loss.item())

    def _shard_loss(self, idx: torch.Tensor, weight: float) -> tuple[torch.Tensor, tuple[float, float, float]]:
        """Several ranks: this rank's share of the global batch ``idx`` (B,). The noise is drawn for
        all B images (the same numbers one process draws) and sliced; the loss is this share's sum
        times ``world size / B``, so DDP's gradient average is the gradient of the global batch
        mean even when B does not split evenly. The means returned are all-reduced global means."""
        n, part = len(idx), distributed.shard(len(idx), self.world.rank, self.world.size)
        dtype = next(self.model.parameters()).dtype
        eps = torch.randn((n, self.model.latent_dim), generator=self.noise_gen, device=self.device, dtype=dtype)
        mine = idx[part].to(self.device)
        recon, kl = self._ddp(self.x[mine], eps[part], None if self.y is None else self.y[mine])
        total = recon + weight * kl
        stop = torch.tensor([float(self.stop_event.is_set())], dtype=torch.float64, device=self.device)
        stats = torch.cat([torch.stack([recon.sum(), kl.sum(), total.sum()]).detach().double() / n, stop])
        r, k, t, stops = distributed.all_sum(stats).tolist()  # one small all-reduce per step
        self._stop_agreed = stops > 0
        return total.sum() * (self.world.size / n), (r, k, t)

    def _step_report(self, recon: float, kl: float, loss: float, weight: float, rate: float) -> StepReport:
        st, spe = self.state, self.steps_per_epoch
        remaining = (self.config.epochs - st.epoch) * spe - st.epoch_step
        eta = remaining * self.config.batch_size / rate if rate > 0 else float("nan")
        return StepReport(epoch=st.epoch + 1, epochs=self.config.epochs, step=st.global_step,
                          epoch_step=st.epoch_step, steps_per_epoch=spe, recon=recon, kl=kl, loss=loss,
                          kl_weight=weight, samples_per_s=rate, eta_s=eta)

    def _finish_epoch(self, sums: list[float], seconds: float, seen: int) -> None:
        st = self.state
        n = max(sums[3], 1)
        train = {"recon": sums[0] / n, "kl": sums[1] / n, "neg_elbo": (sums[0] + sums[1]) / n, "loss": sums[2] / n}
        test = None
        if self.test is not None and len(self.test) and self.world.is_main:
            m = evaluate(self.model, self.test, batch_size=self.config.eval_batch_size, device=self.device)
            test = {k: m[k] for k in ("neg_elbo", "recon", "kl", "active_units", "kl_per_dim")}
            self.model.train()
        st.epoch += 1
        st.perm, st.epoch_step = None, 0
        rate = seen / seconds if seconds > 0 else float("nan")
        per_epoch = st.wall_seconds / st.epoch if st.epoch else seconds
        report = EpochReport(epoch=st.epoch, epochs=self.config.epochs, train=train, test=test, seconds=seconds,
                             samples_per_s=rate, eta_s=(self.config.epochs - st.epoch) * per_epoch)
        st.history.append(report.to_dict())
        if self.on_epoch is not None:
            self.on_epoch(report)


def _labels_for(model: VAE, data: ImageData, device: torch.device) -> torch.Tensor | None:
    """(N,) int64 class labels of ``data`` on ``device`` when ``model`` is class-conditional (checked
    to lie in its 0..K-1), else None."""
    k = model.config.num_classes
    if not k:
        return None
    labels = data.labels.long()
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= k):
        raise ValueError(f"the model is conditional on {k} classes but {data.name} has labels "
                         f"{int(labels.min())}..{int(labels.max())}")
    return labels.to(device)
