"""Data-parallel training of one job over several processes: ``torchrun`` + DistributedDataParallel.

Every rank holds the whole training set and the same seeded generators, so all ranks draw the same
shuffling and the same reparameterisation noise for each *global* batch of ``TrainConfig.batch_size``
images; each rank computes its contiguous share (:func:`shard`) and DDP averages the gradients. With
the per-rank loss scaled by ``world size / global batch`` the averaged gradient is exactly that of the
single-process batch mean, so N ranks reproduce one process up to the order of float sums.
Backend: NCCL on CUDA (one GPU per rank, ``cuda:LOCAL_RANK``), gloo on CPU. Only rank 0
(:func:`is_main`) writes checkpoints, progress and logs.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .device import pick_device
from .models import VAE


@dataclass(frozen=True)
class World:
    """This process's place: ``rank`` in 0..size-1, ``size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world(environ: Mapping[str, str] | None = None) -> World:
    """The world torchrun describes in ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (absent: one process)."""
    env = os.environ if environ is None else environ
    values = {}
    for name, default in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0")):
        try:
            values[name] = int(env.get(name, default))
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {env.get(name)!r}") from None
    world = World(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"])
    if world.size < 1 or not 0 <= world.rank < world.size or world.local_rank < 0:
        raise ValueError(f"inconsistent torchrun environment: {world}")
    return world


def launched(environ: Mapping[str, str] | None = None) -> bool:
    """True when started by torchrun (or alike) with more than one process."""
    return env_world(environ).size > 1


def init(device: str = "auto") -> torch.device:
    """Join the process group torchrun set up and return this rank's device: ``cuda:LOCAL_RANK``
    (NCCL) when ``device`` resolves to CUDA, else the CPU (gloo). Raises ValueError for MPS or
    too few GPUs."""
    world = env_world()
    dev = pick_device(device)
    if dev.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise ValueError(f"local rank {world.local_rank} needs GPU {world.local_rank} but this machine has "
                             f"{torch.cuda.device_count()}; start fewer processes per node")
        dev = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(dev)
    elif dev.type != "cpu":
        raise ValueError(f"multi-process training runs on CUDA (NCCL) or the CPU (gloo), not {dev.type}; "
                         f"use --device cpu or cuda")
    backend = "nccl" if dev.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=world.rank, world_size=world.size,
                            device_id=dev if dev.type == "cuda" else None)
    return dev


def shutdown() -> None:
    """Leave the process group (no-op when none is initialised)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def current() -> World:
    """The initialised process group's world, else one process."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), env_world().local_rank)
    return World()


def backend() -> str:
    """The process group's backend ("nccl" or "gloo"), "" when none is initialised."""
    return str(dist.get_backend()) if dist.is_available() and dist.is_initialized() else ""


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one that writes files, progress and logs."""
    return current().is_main


def shard(n: int, rank: int, size: int) -> slice:
    """This rank's contiguous share of a global batch of ``n`` images: rows ``[rank*n//size,
    (rank+1)*n//size)``. Shares differ by at most one image and may be empty when n < size."""
    return slice(rank * n // size, (rank + 1) * n // size)


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` (any shape, on this rank's device) over all ranks, in place; returns it."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


class ShardELBO(nn.Module):
    """The per-image ELBO terms of one share, with the noise given (the module DDP wraps).

    ``forward(x (b, C, H, W), eps (b, D), y (b,) labels of a conditional model or None)`` ->
    ``(recon (b,), kl (b,))`` in nats, with
    z = mean + std * eps as in :meth:`DiagonalGaussian.sample`: given its rows of the global batch's
    noise, each rank computes exactly its rows of :func:`vae.losses.elbo`.
    """

    def __init__(self, model: VAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, eps: torch.Tensor,
                y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        posterior = self.model.encode(x, y)
        params = self.model.decode(posterior.mean + posterior.std * eps, y)
        return -self.model.log_likelihood(x, params), posterior.kl()


def wrap(model: VAE, device: torch.device) -> DistributedDataParallel:
    """``model`` (already on ``device``) as a DDP-wrapped :class:`ShardELBO`; its parameters stay
    ``model``'s, so an optimiser over ``model.parameters()`` steps the shared weights."""
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(ShardELBO(model), device_ids=ids)
