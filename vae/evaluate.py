"""Evaluate a checkpoint on its dataset: python -m vae.evaluate PATH prints the table."""
from __future__ import annotations

import argparse
import sys

import torch

from .checkpoint import CheckpointError, load
from .data.base import DatasetUnavailable, ImageData
from .factors import factor_report, format_report
from .metrics import evaluate, format_table
from .models import VAE
from .ood import ood_main
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
    parser.add_argument("--ood", metavar="DATASET", help="instead of the table: AUROC of the app's anomaly score and "
                        "of plain -ELBO, the split's images (in) against DATASET's (out); see vae/ood.py")
    args = parser.parse_args(argv)
    try:
        ckpt = load(args.path)
        data = load_dataset(ckpt.dataset, args.split, data_dir=args.data_dir)
    except (CheckpointError, DatasetUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.limit:
        data = data.subset(torch.arange(min(args.limit, len(data))))
    if args.ood:
        return ood_main(ckpt, data, args.ood, args.split, args.data_dir, args.seed, args.limit or None)
    metrics = evaluate(ckpt.model, data, iwae_k=args.iwae_k, batch_size=args.batch_size, seed=args.seed)
    print(format_table(metrics, title=f"{args.path} on {data.source}"))
    if data.factors is not None:
        print(factor_text(ckpt.model, data, seed=args.seed))
    return 0


def factor_text(model: VAE, data: ImageData, seed: int = 0) -> str:
    """MIG, SAP and DCI lines (:mod:`vae.factors`) for a dataset with known factors, or why not."""
    try:
        return format_report(factor_report(model, data, seed=seed))
    except ValueError as exc:
        return f"disentanglement: not computed ({exc})"


if __name__ == "__main__":
    sys.exit(main())
