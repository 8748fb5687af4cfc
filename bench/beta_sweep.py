"""β sweep on shapes: one model per β with the shipped shapes recipe, evaluated and tabulated.

    python bench/beta_sweep.py --reuse                # train the β runs missing from runs/, print the table
    python bench/beta_sweep.py --reuse --write        # also write models/sweeps/shapes-beta/ and models/README.md
    python bench/beta_sweep.py --betas 1,16 --runs-dir /tmp/sweep

Each β trains ``python -m vae.train --dataset shapes --arch mlp --latent-dim 7 --hidden 512,256
--epochs 40 --beta B --seed 0 --threads 1`` into RUNS/shapes-beta-B (one after another: about 3 min
each on an idle core). Each is evaluated on the 2,000-image shapes test split (seed 0): −ELBO,
its parts, active units, IWAE (k=100) and, from the posterior means, MIG, SAP and DCI
(:mod:`vae.factors`: continuous factors in 10 equal-width bins). ``--write`` ships the sweep
without weights: per β a folder with the run's config.json, metrics.json and a README.md card.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from vae import load, load_dataset
from vae.checkpoint import CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE
from vae.factors import FACTOR_BINS, factor_report
from vae.metrics import evaluate

ROOT = Path(__file__).resolve().parents[1]
SWEEP_DIR = ROOT / "models" / "sweeps" / "shapes-beta"
INDEX = ROOT / "models" / "README.md"
START, END = "<!-- beta-sweep:start -->", "<!-- beta-sweep:end -->"
RECIPE = ["--dataset", "shapes", "--arch", "mlp", "--latent-dim", "7", "--hidden", "512,256", "--epochs", "40",
          "--seed", "0", "--threads", "1", "--no-progress"]
HEADER = ("| β | −ELBO | recon | KL | active units | IWAE −log p(x) (k={k}) | MIG | SAP | DCI D | DCI C | DCI I "
          "| trained |\n|---|---|---|---|---|---|---|---|---|---|---|---|")


def train_command(beta: float, out: Path) -> list[str]:
    """The ``python -m vae.train`` argv of the shipped shapes recipe at ``beta``."""
    return [sys.executable, "-m", "vae.train", *RECIPE, "--beta", f"{beta:g}", "--out", str(out)]


def run_dir(runs: Path, beta: float) -> Path:
    return runs / f"shapes-beta-{beta:g}"


def ensure_trained(runs: Path, beta: float, reuse: bool) -> Path:
    """The finished run for ``beta``: reused when ``reuse`` and it exists, else trained now."""
    out = run_dir(runs, beta)
    if reuse and (out / WEIGHTS_FILE).is_file():
        return out
    print(f"training β = {beta:g} into {out} ...", flush=True)
    subprocess.run(train_command(beta, out), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return out


def measure(path: Path, iwae_k: int, seed: int) -> tuple[dict, dict]:
    """(card, metrics) of the run at ``path`` on the shapes test split: :func:`vae.metrics.evaluate`
    plus ``disentanglement`` (:func:`vae.factors.factor_report`) and ``factor_correlation``."""
    ckpt = load(path)
    test = load_dataset(ckpt.dataset, "test")
    t0 = time.perf_counter()
    m = evaluate(ckpt.model, test, iwae_k=iwae_k, seed=seed)
    report = factor_report(ckpt.model, test, seed=seed)
    m["eval_seconds"] = round(time.perf_counter() - t0, 1)
    m["test_data"] = test.source
    corr = report.pop("correlation")
    m["factor_correlation"] = {f"z{d}": {name: round(row[k], 3) for k, name in enumerate(report["factor_names"])}
                               for d, row in enumerate(corr)}
    m["disentanglement"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in report.items()}
    m["weights"] = "not shipped (float32 run weights measured; retrain with the card's command)"
    return ckpt.card, m


def row(card: dict, m: dict) -> str:
    t, d = card.get("training", {}), m["disentanglement"]
    return (f"| {t['config']['beta']:g} | {m['neg_elbo']:.2f} | {m['recon']:.2f} | {m['kl']:.2f} | "
            f"{m['active_units']} of {len(m['kl_per_dim'])} | {m['iwae_nll']:.2f} | {d['mig']:.3f} | {d['sap']:.3f} | "
            f"{d['dci_disentanglement']:.3f} | {d['dci_completeness']:.3f} | {d['dci_informativeness']:.3f} | "
            f"{t.get('wall_seconds', 0) / 60:.1f} min {t.get('device', '?')} |")


def command_text(betas: list[float]) -> str:
    listed = ",".join(f"{b:g}" for b in betas)
    return f"python bench/beta_sweep.py --betas {listed} --runs-dir runs --reuse --write"


def card_text(beta: float, card: dict, m: dict) -> str:
    """The README.md card of one β of the sweep."""
    cmd = " ".join(["python -m vae.train", *RECIPE[:-1], "--beta", f"{beta:g}", "--out", f"runs/shapes-beta-{beta:g}"])
    kl = ", ".join(f"z{i} {v:.2f}" for i, v in enumerate(m["kl_per_dim"]))
    return "\n".join([
        f"# shapes, β = {beta:g} (sweep card; weights not shipped)", "",
        f"The shipped shapes recipe (MLP 512,256, 7-D latent, 40 epochs, seed 0) trained with β = {beta:g}; "
        "one row of the β sweep in `models/README.md`. Only the card ships: retrain to get the weights.", "",
        f"Test set ({m['n']} images, {m['test_data']}), nats per image; disentanglement from the posterior means, "
        f"continuous factors in {m['disentanglement']['factor_bins']} equal-width bins (`vae/factors.py`):", "",
        HEADER.format(k=m["iwae_k"]), row(card, m), "", f"KL per latent: {kl}.", "",
        "Retrain (from the project root):", "",
        f"    {cmd}", "", "Data licence: shapes: generated procedurally by this project (no third-party data).", ""])


def write(betas: list[float], cards: list[tuple[dict, dict]], runs: Path, table: str) -> None:
    """Ship the sweep without weights and put ``table`` between the markers of models/README.md."""
    for beta, (card, m) in zip(betas, cards):
        dest = SWEEP_DIR / f"beta-{beta:g}"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir(runs, beta) / CONFIG_FILE, dest / CONFIG_FILE)
        (dest / METRICS_FILE).write_text(json.dumps(m, indent=2) + "\n")
        (dest / "README.md").write_text(card_text(beta, card, m))
    (SWEEP_DIR / "README.md").write_text(
        "# β sweep on shapes (cards only, no weights)\n\nOne folder per β: the run's `config.json`, `metrics.json` "
        f"and a card. Reproduce with `{command_text(betas)}`.\n\n{table}\n")
    text = INDEX.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{INDEX} has no {START} ... {END} region to fill")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    INDEX.write_text(f"{head}{START}\n{table}\n\nReproduce (from the project root; reuses finished runs):\n\n"
                     f"    {command_text(betas)}\n{END}{tail}", encoding="utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--betas", default="1,2,4,8,16", help="comma-separated β values (default 1,2,4,8,16)")
    p.add_argument("--runs-dir", default="runs", help="where the runs are (default runs/)")
    p.add_argument("--reuse", action="store_true", help="reuse finished runs instead of retraining them")
    p.add_argument("--iwae-k", type=int, default=100, help="importance samples (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the posterior samples and metric splits (default 0)")
    p.add_argument("--write", action="store_true",
                   help="write models/sweeps/shapes-beta/ and the table in models/README.md")
    args = p.parse_args()
    betas = [float(b) for b in args.betas.split(",")]
    runs = Path(args.runs_dir)
    cards = [measure(ensure_trained(runs, b, args.reuse), args.iwae_k, args.seed) for b in betas]
    table = "\n".join([HEADER.format(k=args.iwae_k), *(row(c, m) for c, m in cards)])
    print(table)
    print(f"(continuous factors in {FACTOR_BINS} bins; {command_text(betas)})")
    if args.write:
        write(betas, cards, runs, table)
        print(f"wrote {SWEEP_DIR} and {INDEX}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
