"""Train a VAE from the command line.

Example: python -m vae.train --dataset mnist --arch mlp --latent-dim 2 --epochs 20 --out runs/mnist-2d

A checkpoint (with the resumable training state) is written atomically after every epoch,
and on Ctrl-C after the current step; --resume continues it.

Data-parallel on several GPUs (or CPU processes) of one machine, the same run at the same global
--batch-size: torchrun --standalone --nproc_per_node 2 -m vae.train --dataset mnist ... (NCCL on
CUDA, one GPU per process; gloo on the CPU). Only rank 0 writes the checkpoint, progress and logs.
"""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
import time

import torch
from tqdm import tqdm

from . import checkpoint, distributed
from .config import ARCHS, CONDITIONAL_ARCHS, ConfigError, ModelConfig, TrainConfig
from .data.base import DatasetUnavailable
from .device import pick_device, set_threads
from .metrics import evaluate, format_table
from .progress import EpochReport, StepReport
from .registry import MODEL_PRESETS, dataset_classes, dataset_names, preset_config
from .runspec import DataSpec, PreparedRun, RunSpec, prepare_run
from .trainer import Trainer, TrainingDiverged, TrainResult

TRAIN_DEFAULTS = TrainConfig()


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 512,256, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: ...)" only to flags whose help does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False):
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vae.train", description=__doc__.splitlines()[0],
                                formatter_class=_DefaultsFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="shapes", help=f"dataset name: {', '.join(dataset_names())}")
    d.add_argument("--data-dir",
                   help="dataset root in torchvision layout (default: $VAE_DATA_DIR or ~/.cache/vae-latent-lab/data)")
    d.add_argument("--allow-sample", action="store_true",
                   help="without full MNIST/Fashion-MNIST, train on the shipped 2,000-image test sample")
    d.add_argument("--channels", type=int, choices=(1, 3), default=1, help="channels for folder: datasets")
    d.add_argument("--image-size", type=int, default=28, help="side in pixels for folder: datasets")
    d.add_argument("--limit", type=int,
                   help="train on the first N training images only (default: 0 = all; with --resume, the run's)")
    m = p.add_argument_group("model (ignored with --resume)")
    m.add_argument("--preset", choices=sorted(MODEL_PRESETS),
                   help="start from a named model preset; flags below override it")
    m.add_argument("--arch", choices=ARCHS,
                   help="architecture; cmlp / cconv are class-conditional (default: mlp, or the preset's)")
    m.add_argument("--num-classes", type=int,
                   help="classes a cmlp / cconv model is conditioned on (default: the dataset's number of classes)")
    m.add_argument("--latent-dim", type=int, help="latent dimensions, 1-128 (default: 2, or the preset's)")
    m.add_argument("--hidden", type=_ints, help="MLP hidden sizes, e.g. 512,256")
    m.add_argument("--conv-channels", type=_ints, help="conv channels per stride-2 layer, e.g. 32,64")
    m.add_argument("--conv-fc", type=int, help="conv fully connected width")
    m.add_argument("--activation", choices=("relu", "elu", "silu"), help="hidden activation (default: relu)")
    m.add_argument("--likelihood", choices=("bernoulli", "gaussian"), help="decoder p(x|z) (default: bernoulli)")
    m.add_argument("--sigma", type=float, help="Gaussian likelihood scale (default: 0.1)")
    m.add_argument("--learn-sigma", action="store_true", default=None, help="learn the Gaussian scale")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, help=f"total epochs (default: {TRAIN_DEFAULTS.epochs})")
    t.add_argument("--batch-size", type=int, help=f"batch size (default: {TRAIN_DEFAULTS.batch_size})")
    t.add_argument("--lr", type=float, help=f"Adam learning rate (default: {TRAIN_DEFAULTS.lr})")
    t.add_argument("--beta", type=float, help="KL weight, beta-VAE (default: 1)")
    t.add_argument("--kl-warmup", type=float, help="epochs over which the KL weight ramps from 0 to beta (default: 0)")
    t.add_argument("--grad-clip", type=float, help="clip the gradient norm to this (default: 0 = off)")
    t.add_argument("--seed", type=int, help="seed for weights, shuffling and noise (default: 0)")
    t.add_argument("--eval-batch-size", type=int,
                   help=f"batch size for test-set evaluation (default: {TRAIN_DEFAULTS.eval_batch_size})")
    t.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    t.add_argument("--no-test", action="store_true", help="skip the per-epoch test-set evaluation")
    t.add_argument("--final-iwae-k", type=int, default=0,
                   help="importance samples for the final IWAE estimate (0 = skip)")
    o = p.add_argument_group("output")
    o.add_argument("--out", help="checkpoint folder to write (default: runs/DATASET-ARCH-DIMd)")
    o.add_argument("--resume",
                   help="checkpoint folder to continue (its model and training settings; --epochs may extend)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar (per-epoch lines only)")
    return p


def _train_config(args: argparse.Namespace, base: dict | None) -> TrainConfig:
    fields = dict(base or {})
    for key, flag in (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr", "lr"), ("beta", "beta"),
                      ("kl_warmup_epochs", "kl_warmup"), ("grad_clip", "grad_clip"), ("seed", "seed"),
                      ("eval_batch_size", "eval_batch_size")):
        value = getattr(args, flag)
        if value is not None:
            fields[key] = value
    return TrainConfig.from_dict(fields)


def _model_config(args: argparse.Namespace, data: DataSpec) -> ModelConfig:
    c, h, w = data.image_shape
    latent = args.latent_dim if args.latent_dim is not None else (None if args.preset else 2)
    preset = args.preset or (args.arch or "mlp")
    return preset_config(preset, arch=args.arch, latent_dim=latent, hidden=args.hidden,
                         conv_channels=args.conv_channels, conv_fc=args.conv_fc, activation=args.activation,
                         likelihood=args.likelihood, sigma=args.sigma, learn_sigma=args.learn_sigma,
                         num_classes=_num_classes(args, data, args.arch or MODEL_PRESETS[preset]["arch"]),
                         channels=c, height=h, width=w)


def _num_classes(args: argparse.Namespace, data: DataSpec, arch: str) -> int | None:
    """--num-classes, else for a conditional arch the dataset's number of classes (a folder dataset's
    class folders are counted when it loads: give the flag); ConfigError when unknown."""
    if args.num_classes is not None or arch not in CONDITIONAL_ARCHS:
        return args.num_classes
    known = dataset_classes(data.name)
    if known is None:
        raise ConfigError(f"--arch {arch} is class-conditional: give --num-classes, the number of class "
                          f"folders of {data.name}")
    return known


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The run the flags describe. With ``--resume DIR`` the data (dataset, recorded data folder,
    limit), model and training config come from DIR's card; flags (e.g. ``--epochs``) override it."""
    if args.resume:
        base = RunSpec.from_card(checkpoint.read_card(args.resume), data_dir=args.data_dir)  # the same data
        data = dataclasses.replace(base.data, allow_sample=args.allow_sample or base.data.allow_sample,
                                   limit=base.data.limit if args.limit is None else args.limit, test=not args.no_test)
        model, train = base.model, _train_config(args, base.train.to_dict())
    else:
        data = DataSpec(name=args.dataset, data_dir=args.data_dir, channels=args.channels, size=args.image_size,
                        allow_sample=args.allow_sample, limit=args.limit or 0, test=not args.no_test)
        model, train = _model_config(args, data), _train_config(args, None)
    return RunSpec(data=data, model=model, train=train, out=args.out, resume=args.resume, device=args.device,
                   threads=args.threads, final_iwae_k=args.final_iwae_k)


def _epoch_line(r: EpochReport) -> str:
    tr = r.train
    line = (f"epoch {r.epoch}/{r.epochs} | train -ELBO {tr['neg_elbo']:.2f} "
            f"(recon {tr['recon']:.2f} + KL {tr['kl']:.2f})")
    if r.test:
        line += f" | test -ELBO {r.test['neg_elbo']:.2f} | active units {r.test['active_units']}"
    return line + f" | {r.seconds:.1f} s, {r.samples_per_s:.0f} img/s"


def _progress_bar(args: argparse.Namespace, prep: PreparedRun) -> tqdm | None:
    if args.no_progress or not distributed.is_main():
        return None
    tcfg = prep.spec.train
    return tqdm(total=tcfg.epochs * -(-len(prep.train) // tcfg.batch_size), unit="step",
                initial=prep.state.global_step if prep.state else 0, dynamic_ncols=True)


def _fit(prep: PreparedRun, device: torch.device, bar: tqdm | None) -> tuple[Trainer, TrainResult]:
    """Train, saving a resumable checkpoint after every epoch; Ctrl-C stops after the current step."""
    spec, out = prep.spec, prep.out
    stop = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if in_main else None
    trainer: Trainer

    def on_step(r: StepReport) -> None:
        if bar is not None:
            bar.update(1)
            if r.epoch_step % 20 == 0 or r.epoch_step == r.steps_per_epoch:
                bar.set_postfix_str(f"ep {r.epoch} loss {r.loss:.1f} rec {r.recon:.1f} kl {r.kl:.1f}")

    def on_epoch(r: EpochReport) -> None:
        if trainer.world.is_main:
            (bar.write if bar is not None else print)(_epoch_line(r))
            checkpoint.save(out, trainer.model, spec.data.name, state=trainer.snapshot(),
                            training=prep.summary(trainer))

    trainer = Trainer(prep.model, prep.train, spec.train, test=prep.test, device=device, on_step=on_step,
                      on_epoch=on_epoch, stop_event=stop, state=prep.state)
    try:
        return trainer, trainer.fit()
    finally:
        if bar is not None:
            bar.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def run(args: argparse.Namespace) -> int:
    """Train the run the flags describe; under torchrun (WORLD_SIZE > 1) as one rank of a
    data-parallel job, leaving the process group however it ends."""
    spec = spec_from_args(args)
    if not distributed.launched():
        return _run(args, spec, pick_device(spec.device))
    device = distributed.init(spec.device)
    try:
        return _run(args, spec, device)
    finally:
        distributed.shutdown()


def _run(args: argparse.Namespace, spec: RunSpec, device: torch.device) -> int:
    set_threads(spec.threads)
    main = distributed.is_main()  # the other ranks skip the test set: rank 0 alone evaluates
    prep = prepare_run(spec if main else dataclasses.replace(spec, data=dataclasses.replace(spec.data, test=False)))
    out, test = prep.out, prep.test
    say = print if main else (lambda *_args, **_kw: None)
    say(f"data: {prep.train.source}\nmodel: {prep.model.config.to_dict()} ({prep.model.num_parameters():,} "
        f"parameters)\ndevice: {device}, {torch.get_num_threads()} threads{_ranks_text()}; writing {out}")
    t0 = time.perf_counter()
    trainer, result = _fit(prep, device, _progress_bar(args, prep))
    summary = prep.summary(trainer)
    if result.stopped:
        if main:
            checkpoint.save(out, trainer.model, spec.data.name, training=summary, state=result.state)
        say(f"stopped at epoch {trainer.state.epoch + 1}, step {trainer.state.epoch_step}; saved {out}. "
            f"Continue with: python -m vae.train --resume {out}")
        return 130
    if not main:
        return 0
    metrics = evaluate(trainer.model, test, iwae_k=spec.final_iwae_k, device=device) if test is not None else None
    checkpoint.save(out, trainer.model, spec.data.name, training=summary, metrics=metrics, state=result.state)
    print(f"done: {trainer.state.epoch} epochs in {time.perf_counter() - t0:.1f} s; saved {out}")
    if metrics is not None:
        print(format_table(metrics, title=f"test set ({test.source})"))
    return 0


def _ranks_text() -> str:
    world = distributed.current()
    return f" per process, {world.size} processes (DDP, {distributed.backend()})" if world.size > 1 else ""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (DatasetUnavailable, checkpoint.CheckpointError, ConfigError, ValueError, TrainingDiverged) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if not isinstance(exc, TrainingDiverged) else 3


if __name__ == "__main__":
    sys.exit(main())
