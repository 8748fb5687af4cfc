"""openTSNE vs scikit-learn t-SNE on the posterior means the Latent map would embed.

    python bench/tsne.py --data-dir ../shared/data               # mnist-20d, full test set, 3 runs each
    python bench/tsne.py --data-dir ../shared/data --runs 1 --n 2000
    python bench/tsne.py --data-dir ../shared/data --runs 1 --only openTSNE --jobs 1   # as the app runs it

Both get the same input (the (N, D) float32 posterior means of ``--model`` on its test split),
perplexity 30, PCA initialisation, learning rate "auto", 250 early-exaggeration iterations
(exaggeration 12) followed by 500 plain ones (750 in all), n_jobs = the CPU cores, and seeds
0, 1, 2, ... openTSNE runs as the app runs it (``vae.tsne.embed``: exact neighbours, Barnes-Hut
below 10,000 points, FFT-accelerated interpolation from 10,000), except that the app uses one
thread (``--jobs 1``; see ``vae.tsne.embed``); scikit-learn with its defaults
otherwise (exact neighbours, Barnes-Hut with angle 0.5). Times are wall clock and CPU time of
all threads; the load average is printed, as other work on the machine slows both.

Quality, printed beside the times so that a faster package is not a worse one:
- 10-NN label agreement: for each point, the share of its 10 nearest neighbours in the
  embedding that have its label (averaged over points; the same number for the 20-D means is
  printed as the reference a perfect neighbour-preserving map would keep);
- trustworthiness (Venna & Kaski 2001, scikit-learn's ``trustworthiness``, k = 10) on the
  first 2,000 points (the full 10,000 x 10,000 rank matrices do not fit a small machine);
- run-to-run determinism: the same seed twice gives the same embedding (max abs difference).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from services.catalog import SHIPPED_DIR
from vae import load, load_dataset, tsne
from vae.explore import encode_dataset

PERPLEXITY = tsne.PERPLEXITY
EARLY_ITER, EARLY_EXAGGERATION, MAIN_ITER = tsne.EARLY_ITER, tsne.EARLY_EXAGGERATION, tsne.MAIN_ITER
K = 10
TRUST_POINTS = 2000


def run_opentsne(x: np.ndarray, seed: int, n_jobs: int) -> np.ndarray:
    """(N, D) float32 -> (N, 2) with openTSNE, exactly as the app computes it (vae/tsne.py)."""
    return tsne.embed(x, seed, None, n_jobs)


def run_sklearn(x: np.ndarray, seed: int, n_jobs: int) -> np.ndarray:
    """(N, D) float32 -> (N, 2) with scikit-learn (max_iter counts the early-exaggeration ones too)."""
    from sklearn.manifold import TSNE

    tsne = TSNE(perplexity=PERPLEXITY, early_exaggeration=EARLY_EXAGGERATION, max_iter=EARLY_ITER + MAIN_ITER,
                init="pca", learning_rate="auto", n_jobs=n_jobs, random_state=seed)
    return np.asarray(tsne.fit_transform(x), dtype=np.float32)


def knn_agreement(points: np.ndarray, labels: np.ndarray, k: int = K) -> float:
    """Mean over points of the share of their k nearest neighbours (Euclidean, self excluded)
    with the same label; ``points`` (N, d), ``labels`` (N,)."""
    from sklearn.neighbors import NearestNeighbors

    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    return float((labels[idx[:, 1:]] == labels[:, None]).mean())


def trust(high: np.ndarray, low: np.ndarray, k: int = K) -> float:
    """Trustworthiness (Venna & Kaski 2001) of the first TRUST_POINTS points."""
    from sklearn.manifold import trustworthiness

    n = min(TRUST_POINTS, len(high))
    return float(trustworthiness(high[:n], low[:n], n_neighbors=k))


def measure(name: str, fn: Callable[[np.ndarray, int, int], np.ndarray], x: np.ndarray, labels: np.ndarray,
            runs: int, n_jobs: int) -> dict:
    times, cpus, agree, trusts, first = [], [], [], [], None
    for seed in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        emb = fn(x, seed, n_jobs)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        agree.append(knn_agreement(emb, labels))
        trusts.append(trust(x, emb))
        first = emb if first is None else first
        print(f"  {name} seed {seed}: {times[-1]:.1f} s ({cpus[-1]:.1f} CPU s), load {os.getloadavg()[0]:.1f}, "
              f"10-NN agreement {agree[-1]:.3f}, "
              f"trustworthiness {trusts[-1]:.3f}", flush=True)
    again = fn(x, 0, n_jobs)
    return {"median_s": statistics.median(times), "times": times, "cpu_s": statistics.median(cpus),
            "agree": statistics.median(agree),
            "trust": statistics.median(trusts), "repeat_diff": float(np.abs(again - first).max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default=str(SHIPPED_DIR / "mnist-20d"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=0, help="first N test images (0: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", choices=("openTSNE", "scikit-learn"), default=None, help="time one package only")
    args = parser.parse_args(argv)
    ckpt = load(Path(args.model))
    data = load_dataset(ckpt.dataset, "test", data_dir=args.data_dir, allow_sample=False)
    enc = encode_dataset(ckpt.model, data)
    n = args.n or len(data)
    x = enc.mean[:n].numpy().astype(np.float32)
    labels = enc.labels[:n].numpy()
    print(f"{Path(args.model).name}: {x.shape[0]:,} x {x.shape[1]} posterior means ({data.source}); "
          f"perplexity {PERPLEXITY:g}, {EARLY_ITER}+{MAIN_ITER} iterations, n_jobs {args.jobs}, {args.runs} runs each")
    print(f"  reference: 10-NN label agreement of the {x.shape[1]}-D means {knn_agreement(x, labels):.3f}")
    results = {name: measure(name, fn, x, labels, args.runs, args.jobs)
               for name, fn in (("openTSNE", run_opentsne), ("scikit-learn", run_sklearn))
               if args.only in (None, name)}
    print("\n| package | median s | runs (s) | median CPU s (all threads) | 10-NN agreement | trustworthiness | "
          "same seed again: max diff |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['median_s']:.1f} | {', '.join(f'{t:.1f}' for t in r['times'])} | {r['cpu_s']:.1f} | "
              f"{r['agree']:.3f} | "
              f"{r['trust']:.3f} | {r['repeat_diff']:.2g} |")
    if len(results) < 2:
        return 0
    ratio = results["scikit-learn"]["median_s"] / results["openTSNE"]["median_s"]
    cpu_ratio = results["scikit-learn"]["cpu_s"] / results["openTSNE"]["cpu_s"]
    print(f"\nscikit-learn / openTSNE: median wall time {ratio:.2f}, median CPU time {cpu_ratio:.2f} "
          f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: other work slows both)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
