import re
import subprocess
import sys
from pathlib import Path

import pytest

from vae import checkpoint
from vae.train import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_train_one_short_epoch_on_shapes_then_evaluate_and_resume(tmp_path):
    out = tmp_path / "run"
    r = _run("-m", "vae.train", "--dataset", "shapes", "--arch", "mlp", "--hidden", "64", "--latent-dim", "3",
             "--epochs", "1", "--batch-size", "256", "--limit", "4000", "--threads", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "epoch 1/1 | train -ELBO" in r.stdout and "test -ELBO" in r.stdout
    assert "done: 1 epochs" in r.stdout and "active units" in r.stdout
    assert "step" in r.stderr  # the tqdm progress bar
    card = checkpoint.read_card(out)
    assert card["dataset"] == "shapes" and card["model"]["latent_dim"] == 3
    assert card["training"]["epochs_done"] == 1 and card["metrics"]["n"] == 2000
    assert card["training"]["global_step"] == 16  # --limit 4000: the first 4000 images, 16 batches of 256

    r = _run("-m", "vae.evaluate", str(out), "--iwae-k", "5", "--limit", "200")
    assert r.returncode == 0, r.stderr
    assert "-ELBO (nats/image)" in r.stdout and "IWAE -log p(x), k=5" in r.stdout
    assert re.search(r"^images +200$", r.stdout, re.M)

    r = _run("-m", "vae.train", "--resume", str(out), "--epochs", "2", "--no-progress", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "epoch 2/2" in r.stdout and "epoch 1/" not in r.stdout
    card = checkpoint.read_card(out)
    assert card["training"]["epochs_done"] == 2 and card["training"]["global_step"] == 32  # the limit is kept


def test_help_documents_every_flag():
    text = build_parser().format_help()
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag in text
        if action.option_strings and action.dest != "help":
            assert action.help, f"{action.option_strings} has no help"
    r = _run("-m", "vae.evaluate", "--help")
    assert r.returncode == 0 and "--iwae-k" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--dataset", "cifar"], "unknown dataset 'cifar'"),
    (["--latent-dim", "500"], "latent_dim must be an integer in 1..128"),
    (["--dataset", "folder:/nonexistent/dir"], "is not a folder"),
    (["--resume", "/nonexistent/ckpt"], "is not a folder"),
    (["--device", "cuda:7"], "not available"),
    (["--limit", "-1"], "limit must be an integer >= 0"),
    (["--dataset", "shapes-64", "--preset", "pytorch-example", "--latent-dim", "0"], "latent_dim must be an integer"),
])
def test_bad_input_gives_one_clear_line(args, message, tmp_path):
    r = _run("-m", "vae.train", "--epochs", "1", "--out", str(tmp_path / "x"), *args)
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr


def test_evaluate_bad_path(tmp_path):
    r = _run("-m", "vae.evaluate", str(tmp_path))
    assert r.returncode == 2 and "no config.json" in r.stderr and "Traceback" not in r.stderr
