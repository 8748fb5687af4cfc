"""AUROC of anomaly scores: each shipped model's own test images (in) against the other dataset's
test images (out), for plain −ELBO, the candidate corrections and the app's score (vae/ood.py).

    python bench/ood.py --data-dir ../shared/data            # the first 2,000 test images of each set
    python bench/ood.py                                      # the shipped 2,000-image samples

Columns (AUROC, outliers should score higher; 1 = perfect, 0.5 = chance):
  -ELBO        the score Reconstruct used before (Nalisnick et al. 2019 show where it fails)
  -ELBO-PNG    −ELBO minus the 8-bit PNG length in nats (Serrà et al. 2020)
  LR-pixel     −ELBO minus −log p_bg(x), a per-pixel Bernoulli fitted to the model's own
               scored test images (a cheap likelihood ratio, Ren et al. 2019)
  typ(-ELBO)   |−ELBO − median of the own test images| (two-sided typicality, Nalisnick et al. 2019)
  typ(S)       the same two-sided distance on S
  S (app)      −ELBO − C(x), C(x) = −log p(x | x̂ = x) the likelihood's own complexity floor
Every −ELBO uses 8 posterior samples drawn from a generator seeded ``--seed`` per image set.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from vae import load, load_dataset
from vae.ood import auroc, complexity, pixel_background, pixel_background_nll, png_nats, score_dataset, typicality

ROOT = Path(__file__).resolve().parents[1]
PAIRS = (("mnist-20d", "fashion-mnist"), ("mnist-2d", "fashion-mnist"),
         ("fashion-16d", "mnist"), ("fashion-2d", "mnist"))
COLUMNS = ("-ELBO", "-ELBO-PNG", "LR-pixel", "typ(-ELBO)", "typ(S)", "S (app)")


def candidates(model, x: torch.Tensor, ne: torch.Tensor, ref_ne: torch.Tensor, ref_s: torch.Tensor,
               bg: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every column's (N,) score for images ``x`` (N, C, H, W) whose −ELBOs are ``ne`` (N,)."""
    s = ne - complexity(model, x)
    return {"-ELBO": ne, "-ELBO-PNG": ne - png_nats(x), "LR-pixel": ne - pixel_background_nll(x, bg),
            "typ(-ELBO)": typicality(ne, ref_ne), "typ(S)": typicality(s, ref_s), "S (app)": s}


def measure(name: str, outlier_set: str, data_dir: str | None, limit: int, seed: int) -> tuple[dict, str]:
    """AUROC per column for one model (in: its test set, out: ``outlier_set``'s) and a note line."""
    ckpt = load(ROOT / "models" / name)
    sets = {"in": load_dataset(ckpt.dataset, "test", data_dir=data_dir),
            "out": load_dataset(outlier_set, "test", data_dir=data_dir)}
    t0 = time.perf_counter()
    scored = {k: score_dataset(ckpt.model, d, torch.Generator().manual_seed(seed), limit, best_class=k == "out")
              for k, d in sets.items()}
    seconds = time.perf_counter() - t0
    xs = {k: d.float_images(slice(0, len(scored[k][0]))) for k, d in sets.items()}
    bg = pixel_background(xs["in"])
    cols = {k: candidates(ckpt.model, xs[k], scored[k][0], scored["in"][0], scored["in"][1], bg) for k in sets}
    result = {c: auroc(cols["in"][c], cols["out"][c]) for c in COLUMNS}
    note = (f"{name}: {len(xs['in'])} {ckpt.dataset} vs {len(xs['out'])} {outlier_set} images "
            f"({sets['in'].source.split(' (')[0]}); scoring both sets took {seconds:.1f} s")
    return result, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR, else the shipped samples)")
    parser.add_argument("--limit", type=int, default=2000, help="first N test images of each set (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="posterior-sample seed (default 0)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, notes = [], []
    for name, outliers in PAIRS:
        result, note = measure(name, outliers, args.data_dir, args.limit, args.seed)
        rows.append((f"{name} (out: {outliers})", result))
        notes.append(note)
    width = max(len(r[0]) for r in rows)
    print(f"{'model (outliers)':<{width}}  " + "  ".join(f"{c:>10}" for c in COLUMNS))
    for label, result in rows:
        print(f"{label:<{width}}  " + "  ".join(f"{result[c]:>10.3f}" for c in COLUMNS))
    print("\n".join(notes))


if __name__ == "__main__":
    main()
