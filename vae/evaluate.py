"""Evaluate a checkpoint on its dataset: python -m vae.evaluate PATH prints the table."""
from __future__ import annotations

import argparse
import sys

import torch

from .checkpoint import CheckpointError, load
from .data.base import DatasetUnavailable
from .metrics import evaluate, format_table
from .registry import load_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("path", help="checkpoint folder (holding config.json and model.safetensors)")
    parser.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or the user cache folder)")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="which split (default: test)")
    parser.add_argument("--iwae-k", type=int, default=100,
                        help="importance samples for the IWAE bound; 0 skips it (default: 100)")
    parser.add_argument("--batch-size", type=int, default=500, help="images per forward pass (default: 500)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the posterior samples (default: 0)")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N images (default: all)")
    args = parser.parse_args(argv)
    try:
        ckpt = load(args.path)
        data = load_dataset(ckpt.dataset, args.split, data_dir=args.data_dir)
    except (CheckpointError, DatasetUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.limit:
        data = data.subset(torch.arange(min(args.limit, len(data))))
    metrics = evaluate(ckpt.model, data, iwae_k=args.iwae_k, batch_size=args.batch_size, seed=args.seed)
    print(format_table(metrics, title=f"{args.path} on {data.source}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
