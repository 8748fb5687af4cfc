"""Copy a trained checkpoint into the shipped form: ``python -m vae.ship SRC DST``.

Drops the resumable training state and stores the weights as float16 (half the size;
loading gives a float32 model). Recompute the card's metrics afterwards with
``python bench/quality.py --data-dir DIR --write``: they are measured on the shipped weights.
"""
from __future__ import annotations

import argparse
import sys

import torch

from .checkpoint import CheckpointError, load, save


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vae.ship", description=__doc__.splitlines()[0])
    p.add_argument("src", help="trained checkpoint folder")
    p.add_argument("dst", help="shipped checkpoint folder to write (e.g. models/mnist-2d)")
    p.add_argument("--float32", action="store_true", help="keep float32 weights")
    args = p.parse_args(argv)
    try:
        ck = load(args.src)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    extra = {k: v for k, v in ck.card.items() if k not in
             ("format", "format_version", "model", "dataset", "training", "torch_version", "saved_at", "weights_dtype",
              "metrics")}
    out = save(args.dst, ck.model, ck.dataset, training=ck.training, metrics=None, extra=extra,
               weights_dtype=None if args.float32 else torch.float16)
    print(f"wrote {out} ({sum(f.stat().st_size for f in out.iterdir()) / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
