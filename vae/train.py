"""Train a VAE from the command line.

Example: python -m vae.train --dataset mnist --arch mlp --latent-dim 2 --epochs 20 --out runs/mnist-2d

A checkpoint (with the resumable training state) is written atomically after every epoch,
and on Ctrl-C after the current step; --resume continues it.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

import torch
from tqdm import tqdm

from . import checkpoint
from .config import ConfigError, ModelConfig, TrainConfig
from .data.base import DatasetUnavailable
from .device import pick_device, set_threads
from .metrics import evaluate, format_table
from .models import build_model
from .registry import MODEL_PRESETS, dataset_names, load_dataset, preset_config
from .progress import EpochReport, StepReport
from .trainer import Trainer, TrainingDiverged

TRAIN_DEFAULTS = TrainConfig()


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 512,256, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vae.train", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="shapes", help=f"dataset name: {', '.join(dataset_names())}")
    d.add_argument("--data-dir",
                   help="dataset root in torchvision layout (default: $VAE_DATA_DIR or ~/.cache/vae-latent-lab/data)")
    d.add_argument("--allow-sample", action="store_true",
                   help="without full MNIST/Fashion-MNIST, train on the shipped 2,000-image test sample")
    d.add_argument("--channels", type=int, choices=(1, 3), default=1, help="channels for folder: datasets")
    d.add_argument("--image-size", type=int, default=28, help="side in pixels for folder: datasets")
    m = p.add_argument_group("model (ignored with --resume)")
    m.add_argument("--preset", choices=sorted(MODEL_PRESETS), help="start from a named model preset; flags below override it")
    m.add_argument("--arch", choices=("mlp", "conv"), help="architecture (default: mlp, or the preset's)")
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
    t.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    t.add_argument("--no-test", action="store_true", help="skip the per-epoch test-set evaluation")
    t.add_argument("--final-iwae-k", type=int, default=0, help="importance samples for the final IWAE estimate (0 = skip)")
    o = p.add_argument_group("output")
    o.add_argument("--out", help="checkpoint folder to write (default: runs/DATASET-ARCH-DIMd)")
    o.add_argument("--resume", help="checkpoint folder to continue (its model and training settings; --epochs may extend)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar (per-epoch lines only)")
    return p


def _train_config(args: argparse.Namespace, base: dict | None) -> TrainConfig:
    fields = dict(base or {})
    for key, flag in (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr", "lr"), ("beta", "beta"),
                      ("kl_warmup_epochs", "kl_warmup"), ("grad_clip", "grad_clip"), ("seed", "seed")):
        value = getattr(args, flag)
        if value is not None:
            fields[key] = value
    return TrainConfig.from_dict(fields)


def _setup(args: argparse.Namespace):
    """Model, configs, data and state from flags or a resumed checkpoint."""
    if args.resume:
        ckpt = checkpoint.load(args.resume)
        dataset = ckpt.dataset
        tcfg = _train_config(args, ckpt.training.get("config"))
        model, state = ckpt.model, checkpoint.load_train_state(args.resume)
        if state is None:
            raise checkpoint.CheckpointError(f"{args.resume} has no training state to resume (was it a final export?)")
        out = Path(args.out or args.resume)
        args.data_dir = args.data_dir or ckpt.training.get("data_dir")  # the same data as before
    else:
        dataset = args.dataset
        tcfg = _train_config(args, None)
        out = None
    train = load_dataset(dataset, "train", data_dir=args.data_dir, channels=args.channels, size=args.image_size,
                         allow_sample=args.allow_sample)
    test = None if args.no_test else load_dataset(dataset, "test", data_dir=args.data_dir,
                                                  channels=args.channels, size=args.image_size)
    if not args.resume:
        c, h, w = train.image_shape
        mcfg = preset_config(args.preset or (args.arch or "mlp"), arch=args.arch, latent_dim=args.latent_dim or (
            None if args.preset else 2), hidden=args.hidden, conv_channels=args.conv_channels, conv_fc=args.conv_fc,
            activation=args.activation, likelihood=args.likelihood, sigma=args.sigma, learn_sigma=args.learn_sigma,
            channels=c, height=h, width=w)
        model = build_model(mcfg, generator=torch.Generator().manual_seed(tcfg.seed))
        state = None
        out = Path(args.out or f"runs/{dataset.replace(':', '-').replace('/', '_')}-{mcfg.arch}-{mcfg.latent_dim}d")
    return model, tcfg, dataset, train, test, state, out


def retrain_command(model: dict, training: dict, dataset: str, out: str, data_dir: str = "../shared/data") -> str:
    """The exact ``python -m vae.train`` command that reproduces a checkpoint from its card."""
    defaults = ModelConfig()
    parts = ["python -m vae.train", f"--dataset {dataset}", f"--data-dir {data_dir}", f"--arch {model['arch']}",
             f"--latent-dim {model['latent_dim']}"]
    if model["arch"] == "mlp":
        parts.append(f"--hidden {','.join(map(str, model['hidden']))}")
    else:
        parts += [f"--conv-channels {','.join(map(str, model['conv_channels']))}", f"--conv-fc {model['conv_fc']}"]
    for key, flag in (("activation", "--activation"), ("likelihood", "--likelihood")):
        if model[key] != getattr(defaults, key):
            parts.append(f"{flag} {model[key]}")
    if model["likelihood"] == "gaussian":
        parts.append(f"--sigma {model['sigma']}" + (" --learn-sigma" if model["learn_sigma"] else ""))
    t = training.get("config", {})
    for key, flag in (("epochs", "--epochs"), ("batch_size", "--batch-size"), ("lr", "--lr"), ("beta", "--beta"),
                      ("kl_warmup_epochs", "--kl-warmup"), ("grad_clip", "--grad-clip"), ("seed", "--seed")):
        if key in t and (key in ("epochs", "beta", "seed") or t[key] != getattr(TRAIN_DEFAULTS, key)):
            parts.append(f"{flag} {t[key]:g}" if isinstance(t[key], float) else f"{flag} {t[key]}")
    return " ".join(parts + [f"--out {out}"])


def _epoch_line(r: EpochReport) -> str:
    tr = r.train
    line = (f"epoch {r.epoch}/{r.epochs} | train -ELBO {tr['neg_elbo']:.2f} "
            f"(recon {tr['recon']:.2f} + KL {tr['kl']:.2f})")
    if r.test:
        line += f" | test -ELBO {r.test['neg_elbo']:.2f} | active units {r.test['active_units']}"
    return line + f" | {r.seconds:.1f} s, {r.samples_per_s:.0f} img/s"


def run(args: argparse.Namespace) -> int:
    device = pick_device(args.device)
    set_threads(args.threads)
    model, tcfg, dataset, train, test, state, out = _setup(args)
    print(f"data: {train.source}\nmodel: {model.config.to_dict()} ({model.num_parameters():,} parameters)\n"
          f"device: {device}, {torch.get_num_threads()} threads; writing {out}")
    stop = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if in_main else None
    bar = None if args.no_progress else tqdm(total=tcfg.epochs * -(-len(train) // tcfg.batch_size), unit="step",
                                             initial=state.global_step if state else 0, dynamic_ncols=True)
    trainer: Trainer

    def on_step(r: StepReport) -> None:
        if bar is not None:
            bar.update(1)
            if r.epoch_step % 20 == 0 or r.epoch_step == r.steps_per_epoch:
                bar.set_postfix_str(f"ep {r.epoch} loss {r.loss:.1f} rec {r.recon:.1f} kl {r.kl:.1f}")

    def on_epoch(r: EpochReport) -> None:
        (bar.write if bar is not None else print)(_epoch_line(r))
        checkpoint.save(out, trainer.model, dataset, training=trainer.summary(train.source, args.data_dir),
                        state=trainer.snapshot())

    trainer = Trainer(model, train, tcfg, test=test, device=device, on_step=on_step, on_epoch=on_epoch,
                      stop_event=stop, state=state)
    t0 = time.perf_counter()
    try:
        result = trainer.fit()
    finally:
        if bar is not None:
            bar.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    summary = trainer.summary(train.source, args.data_dir)
    if result.stopped:
        checkpoint.save(out, trainer.model, dataset, training=summary, state=result.state)
        print(f"stopped at epoch {trainer.state.epoch + 1}, step {trainer.state.epoch_step}; saved {out}. "
              f"Continue with: python -m vae.train --resume {out}")
        return 130
    metrics = evaluate(trainer.model, test, iwae_k=args.final_iwae_k, device=device) if test is not None else None
    checkpoint.save(out, trainer.model, dataset, training=summary, metrics=metrics, state=result.state)
    print(f"done: {trainer.state.epoch} epochs in {time.perf_counter() - t0:.1f} s; saved {out}")
    if metrics is not None:
        print(format_table(metrics, title=f"test set ({test.source})"))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (DatasetUnavailable, checkpoint.CheckpointError, ConfigError, ValueError, TrainingDiverged) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if not isinstance(exc, TrainingDiverged) else 3


if __name__ == "__main__":
    sys.exit(main())
