"""Recompute every shipped model's card numbers on the full test sets and compare.

    python bench/quality.py --data-dir ../shared/data              # check: exit 1 if a card is off by > 0.5 nat
    python bench/quality.py --data-dir ../shared/data --write      # (re)write metrics.json, cards, models/README.md
    python bench/quality.py --data-dir ../shared/data --baselines  # also train the PyTorch-recipe MLP baselines

The table printed is the one in models/README.md. Baselines: for each Fashion model, an MLP
of the same latent size trained with the PyTorch examples recipe (784-400-D, batch 128, Adam
1e-3, 10 epochs), trained and evaluated in this run.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import torch

from services.catalog import SHIPPED_DIR
from vae import TrainConfig, Trainer, build_model, load, load_dataset, preset_config
from vae.checkpoint import METRICS_FILE
from vae.explore import encode_dataset
from vae.metrics import evaluate, factor_correlations
from vae.runspec import RunSpec

TOLERANCE = 0.5  # nats
KEYS = ("neg_elbo", "recon", "kl", "iwae_nll")
DESCRIPTIONS = {
    "mnist-2d": "MNIST digits in a 2-D latent space: the model for the latent map and the manifold grid.",
    "mnist-cond-2d": "MNIST digits with a class-conditional VAE (Sohn et al. 2015) and a 2-D latent space: you "
                     "choose the digit, and the two latent dimensions hold the style given the digit (here "
                     "mostly slant along z0, width and stroke thickness along z1), so one z draws the ten "
                     "digits in the same style.",
    "mnist-20d": "MNIST digits with 20 latent dimensions: the higher-capacity model for sliders and reconstruction.",
    "fashion-2d": "Fashion-MNIST clothing in a 2-D latent space: latent map and manifold grid.",
    "fashion-16d": "Fashion-MNIST clothing with 16 latent dimensions: sliders and reconstruction.",
    "shapes": "Procedural shapes (square, ellipse, heart; scale, rotation, x, y) with a beta-VAE (beta > 1), "
              "so that single latents tend to follow single factors.",
}
TABLE_START, TABLE_END = "<!-- quality-table:start -->", "<!-- quality-table:end -->"


def recompute(path: Path, data_dir: str, iwae_k: int) -> tuple[dict, dict]:
    ckpt = load(path)
    test = load_dataset(ckpt.dataset, "test", data_dir=data_dir, allow_sample=False)
    t0 = time.perf_counter()
    metrics = evaluate(ckpt.model, test, iwae_k=iwae_k)
    metrics["eval_seconds"] = round(time.perf_counter() - t0, 1)
    metrics["test_data"] = test.source
    if test.factors is not None:
        enc = encode_dataset(ckpt.model, test)
        corr = factor_correlations(enc.mean, test.factors)
        metrics["factor_correlation"] = {
            f"z{d}": {name: round(float(corr[d, k]), 3) for k, name in enumerate(test.factor_names)}
            for d in range(corr.shape[0])}
    return ckpt.card, metrics


def base_arch(cfg: dict) -> str:
    """``mlp`` or ``conv``: the network shape, without the class conditioning of ``cmlp``/``cconv``."""
    return cfg["arch"][1:] if cfg.get("num_classes") else cfg["arch"]


def row(name: str, card: dict, m: dict) -> str:
    t = card.get("training", {})
    cfg = card["model"]
    arch = f"{cfg['arch']} " + (",".join(map(str, cfg["hidden"])) if base_arch(cfg) == "mlp" else
                                ",".join(map(str, cfg["conv_channels"])) + f"/{cfg['conv_fc']}")
    trained = f"{t.get('wall_seconds', 0) / 60:.1f} min {t.get('device', '?')}"
    return (f"| {name} | {card['dataset']} | {arch} | {cfg['latent_dim']} | {t.get('config', {}).get('beta', 1):g} | "
            f"{t.get('epochs_done', '?')} | {m['neg_elbo']:.2f} | {m['recon']:.2f} | {m['kl']:.2f} | "
            f"{m['active_units']} | {m['iwae_nll']:.2f} | {trained} |")


HEADER = ("| model | dataset | architecture | latent dim | β | epochs | −ELBO | recon | KL | active units | "
          "IWAE −log p(x) (k=100) | trained |\n|---|---|---|---|---|---|---|---|---|---|---|---|")


def compare(card_metrics: dict | None, m: dict) -> list[str]:
    if not card_metrics:
        return ["card has no metrics.json"]
    bad = [f"{k}: card {card_metrics.get(k)} vs recomputed {m[k]:.3f}" for k in KEYS
           if card_metrics.get(k) is None or abs(card_metrics[k] - m[k]) > TOLERANCE]
    if card_metrics.get("active_units") != m["active_units"]:
        bad.append(f"active_units: card {card_metrics.get('active_units')} vs recomputed {m['active_units']}")
    return bad


def baseline(dataset: str, latent_dim: int, data_dir: str) -> float:
    """Test -ELBO of the PyTorch-examples recipe (784-400-D MLP, 10 epochs) on ``dataset``."""
    train = load_dataset(dataset, "train", data_dir=data_dir, allow_sample=False)
    test = load_dataset(dataset, "test", data_dir=data_dir, allow_sample=False)
    model = build_model(preset_config("pytorch-example", latent_dim=latent_dim),
                        generator=torch.Generator().manual_seed(0))
    Trainer(model, train, TrainConfig(epochs=10, batch_size=128, lr=1e-3, seed=0)).fit()
    return evaluate(model, test)["neg_elbo"]


def factor_lines(m: dict) -> list[str]:
    corr = m.get("factor_correlation")
    if not corr:
        return []
    lines = ["", "Which latent tracks which factor (|Pearson r|; correlation ratio for the categorical shape),",
             "for the active dimensions (KL > 0.1 nat), on the shapes test set:", "",
             "| latent | KL | best factor | association | others |", "|---|---|---|---|---|"]
    for d, (z, vals) in enumerate(corr.items()):
        if m["kl_per_dim"][d] <= 0.1:
            continue
        best = max(vals, key=vals.get)
        others = ", ".join(f"{k} {v:.2f}" for k, v in vals.items() if k != best)
        lines.append(f"| {z} | {m['kl_per_dim'][d]:.2f} | {best} | {vals[best]:.2f} | {others} |")
    inactive = [z for d, z in enumerate(corr) if m["kl_per_dim"][d] <= 0.1]
    if inactive:
        lines.append(f"\nInactive (KL ≤ 0.1 nat): {', '.join(inactive)}.")
    lines.append("\nAn association below about 0.3 means the latent follows no single factor linearly.")
    return lines


LICENCES = {"mnist": "MNIST: CC BY-SA 3.0 (Y. LeCun, C. Cortes, C. J. C. Burges); "
                     "this model is shared under the same terms.",
            "fashion-mnist": "Fashion-MNIST: MIT (Zalando Research).",
            "shapes": "shapes: generated procedurally by this project (no third-party data)."}


def recipe(card: dict, name: str) -> str:
    """Train into runs/NAME (the exact run the card records, data folder included), then ship
    (float16 weights, no training state) into models/NAME."""
    cmd = "python -m vae.train " + shlex.join(RunSpec.from_card(card, out=f"runs/{name}").to_argv())
    return f"{cmd} && python -m vae.ship runs/{name} models/{name}"


def arch_text(cfg: dict) -> str:
    if base_arch(cfg) == "mlp":
        text = f"MLP, hidden layers {cfg['hidden']} (decoder mirrored)"
    else:
        text = (f"conv, stride-2 kernel-4 layers with {cfg['conv_channels']} channels, fc {cfg['conv_fc']} "
                "(decoder mirrored)")
    if cfg.get("num_classes"):
        text = (f"class-conditional {text}, conditioned on {cfg['num_classes']} classes: the one-hot class "
                f"joins the encoder's input and z at the decoder's input")
    return text


def conditional_lines(card: dict) -> list[str]:
    """What a conditional model's numbers mean (they are not those of log p(x))."""
    k = card["model"].get("num_classes", 0)
    if not k:
        return []
    return ["", f"The numbers are conditional on each test image's true class y: −ELBO and IWAE bound −log p(x|y) "
            f"(Sohn et al. 2015). With a uniform class prior p(y) = 1/{k}, p(x) ≥ p(x|y) p(y), so adding "
            f"log {k} = {math.log(k):.2f} nats to the IWAE number gives an upper bound on −log p(x) of this model "
            "with that prior, comparable with the unconditional models' IWAE numbers."]


def write_card(path: Path, card: dict, m: dict) -> None:
    (path / METRICS_FILE).write_text(json.dumps(m, indent=2) + "\n")
    t, cfg = card.get("training", {}), card["model"]
    cmd = recipe(card, path.name)
    text = [f"# {path.name}", "", DESCRIPTIONS.get(path.name, card.get("description", "")), "",
            f"- dataset: {card['dataset']} ({t.get('train_data', '')})",
            f"- architecture: {arch_text(cfg)}, {cfg['activation']}, {cfg['likelihood']} decoder; "
            f"weights stored as {card.get('weights_dtype', 'float32')}",
            f"- latent dim: {cfg['latent_dim']}; β = {t.get('config', {}).get('beta', 1):g}; "
            f"epochs: {t.get('epochs_done')}; batch {t.get('config', {}).get('batch_size')}, "
            f"Adam lr {t.get('config', {}).get('lr')}",
            f"- trained in {t.get('wall_seconds', 0) / 60:.1f} min on {t.get('device')} ({t.get('threads')} "
            f"thread(s) of a 2-core machine that was also running other work, so the wall time is an upper bound)",
            "", f"Test set ({m['n']} images, {m['test_data']}), nats per image:", "", HEADER, row(path.name, card, m),
            *conditional_lines(card), *factor_lines(m), "",
            "Retrain (from the project root; then `python bench/quality.py --data-dir "
            "../shared/data --write` recomputes this card):", "", f"    {cmd}", "",
            f"Data licence: {LICENCES.get(card['dataset'], '')}", ""]
    (path / "README.md").write_text("\n".join(text))


def write_index(rows: list[str], commands: list[str]) -> None:
    """Put ``rows`` and ``commands`` into models/README.md's table region, keeping the rows and
    commands of models not recomputed in this run (``--models``), in name order."""
    index = SHIPPED_DIR / "README.md"
    text = index.read_text() if index.exists() else f"# Shipped models\n\n{TABLE_START}\n{TABLE_END}\n"
    head, rest = text.split(TABLE_START)
    old, tail = rest.split(TABLE_END)
    by_name = {r.split("|")[1].strip(): r for r in old.splitlines() if r.startswith("| ") and "---" not in r
               and not r.startswith("| model |")}
    by_name.update({r.split("|")[1].strip(): r for r in rows})
    cmds = {c.rsplit(" ", 1)[-1]: c for c in
            [line.strip() for line in old.splitlines() if line.startswith("    python -m vae.train")] + commands}
    body = "\n".join([HEADER, *[by_name[n] for n in sorted(by_name)], "", "Retrain (from the project root):", "",
                      *[f"    {cmds[k]}" for k in sorted(cmds)]])
    index.write_text(f"{head}{TABLE_START}\n{body}\n{TABLE_END}{tail}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="folder with the full MNIST/FashionMNIST raw files")
    p.add_argument("--iwae-k", type=int, default=100, help="importance samples (default 100)")
    p.add_argument("--models", nargs="*", help="only these model folders (default: all in models/)")
    p.add_argument("--write", action="store_true", help="write metrics.json, per-model README.md and models/README.md")
    p.add_argument("--baselines", action="store_true", help="train PyTorch-recipe MLP baselines for the Fashion models")
    args = p.parse_args()
    paths = [SHIPPED_DIR / n for n in args.models] if args.models else sorted(
        q for q in SHIPPED_DIR.iterdir() if (q / "config.json").is_file())
    rows, commands, failures = [], [], []
    print(HEADER)
    for path in paths:
        card, m = recompute(path, args.data_dir, args.iwae_k)
        rows.append(row(path.name, card, m))
        print(rows[-1], flush=True)
        commands.append(recipe(card, path.name))
        if args.write:
            write_card(path, card, m)
        else:
            failures += [f"{path.name}: {b}" for b in compare(card.get("metrics"), m)]
        if args.baselines and card["dataset"] == "fashion-mnist":
            b = baseline(card["dataset"], card["model"]["latent_dim"], args.data_dir)
            verdict = "beats" if m["neg_elbo"] < b else "DOES NOT beat"
            print(f"  baseline {card['model']['latent_dim']}-D PyTorch-recipe MLP, 10 epochs: -ELBO {b:.2f}; "
                  f"{path.name} {m['neg_elbo']:.2f} {verdict} it by {b - m['neg_elbo']:.2f} nats", flush=True)
            failures += [] if m["neg_elbo"] < b else [f"{path.name} does not beat its baseline"]
    if args.write:
        write_index(rows, commands)
        print(f"wrote cards and {SHIPPED_DIR / 'README.md'}")
    for f in failures:
        print(f"FAIL {f}")
    print("all cards agree with the recomputation" if not failures else f"{len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
