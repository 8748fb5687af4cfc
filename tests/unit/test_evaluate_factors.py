"""`python -m vae.evaluate` prints MIG / SAP / DCI for a dataset with factors (shapes), and nothing
of the kind for one without (the MNIST sample); the factor discretisation behind it."""
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from services.catalog import SHIPPED_DIR, list_models
from vae import registry
from vae.config import ModelConfig
from vae.data.base import ImageData
from vae.factors import FACTOR_BINS, METRIC_NAMES, discretize_factors, factor_report, is_categorical
from vae.models import build_model

ROOT = Path(__file__).resolve().parents[2]
evaluate = importlib.import_module("vae.evaluate")  # the module (the package exports a function of that name)
METRIC_LINE = re.compile(r"^(MIG|SAP|DCI disentanglement|DCI completeness|DCI informativeness) +(-?[\d.]+)$", re.M)


def test_cli_prints_disentanglement_of_shapes_in_unit_range():
    r = subprocess.run([sys.executable, "-m", "vae.evaluate", "models/shapes", "--limit", "500", "--iwae-k", "0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "-ELBO (nats/image)" in r.stdout
    found = dict(METRIC_LINE.findall(r.stdout))
    assert set(found) == set(METRIC_NAMES.values()), r.stdout
    assert all(0.0 <= float(v) <= 1.0 for v in found.values()), found
    assert "500 images" in r.stdout and f"{FACTOR_BINS} bins" in r.stdout


def test_cli_prints_no_disentanglement_without_factors(tmp_path, monkeypatch, capsys):
    # offline: the shipped 2,000-image MNIST sample (an empty data dir, no download)
    monkeypatch.setattr(evaluate, "load_dataset", lambda name, split, data_dir=None: registry.load_dataset(
        name, split, data_dir=tmp_path, download=False))
    assert evaluate.main(["models/mnist-2d", "--limit", "300", "--iwae-k", "0"]) == 0
    out = capsys.readouterr().out
    assert "-ELBO (nats/image)" in out and re.search(r"^images +300$", out, re.M)
    assert METRIC_LINE.findall(out) == [] and "disentanglement" not in out


def test_discretize_keeps_categorical_and_bins_continuous():
    g = torch.Generator().manual_seed(0)
    shape = torch.randint(0, 3, (500,), generator=g).float()
    x = torch.rand(500, generator=g) * 0.4 + 0.3
    labels = discretize_factors(torch.stack([shape, x], dim=1))
    assert labels.dtype == np.int64 and labels.shape == (500, 2)
    assert np.array_equal(labels[:, 0], shape.long().numpy())
    assert labels[:, 1].min() == 0 and labels[:, 1].max() == FACTOR_BINS - 1
    order = np.argsort(x.numpy())
    assert np.all(np.diff(labels[order, 1]) >= 0)  # bins follow the value
    assert is_categorical(np.array([0.0, 1.0, 2.0])) and not is_categorical(np.array([0.1, 0.5, 0.9]))
    assert not is_categorical(np.arange(FACTOR_BINS + 1.0))  # too many levels: treated as continuous


def _tiny(factors: torch.Tensor, names: tuple[str, ...]) -> tuple[torch.nn.Module, ImageData]:
    model = build_model(ModelConfig(latent_dim=3, hidden=(16,))).eval()
    n = factors.shape[0]
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    data = ImageData(name="toy", split="test", images=images, labels=torch.zeros(n, dtype=torch.long),
                     classes=("a",), source="toy", factors=factors, factor_names=names)
    return model, data


def test_report_is_seeded_and_in_range():
    g = torch.Generator().manual_seed(2)
    model, data = _tiny(torch.stack([torch.randint(0, 3, (200,), generator=g).float(),
                                     torch.rand(200, generator=g)], dim=1), ("shape", "x"))
    a, b = factor_report(model, data, seed=3), factor_report(model, data, seed=3)
    assert a == b
    assert all(0.0 <= a[k] <= 1.0 for k in METRIC_NAMES)
    assert np.array(a["correlation"]).shape == (3, 2) and a["factor_names"] == ["shape", "x"]


def test_too_few_factors_is_a_line_not_a_traceback():
    model, data = _tiny(torch.rand(50, 1, generator=torch.Generator().manual_seed(0)), ("x",))
    text = evaluate.factor_text(model, data)
    assert text.startswith("disentanglement: not computed") and "at least 2 factors" in text


def test_dataset_without_factors_raises_clearly():
    model, data = _tiny(torch.rand(50, 2), ("a", "b"))
    data.factors = None
    with pytest.raises(ValueError, match="no known factors"):
        factor_report(model, data)


def test_sweep_cards_ship_without_weights_and_are_not_models(tmp_path):
    sweep = SHIPPED_DIR / "sweeps" / "shapes-beta"
    folders = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(folders) >= 4
    table = (SHIPPED_DIR / "README.md").read_text(encoding="utf-8")
    for folder in folders:
        assert not (folder / "model.safetensors").exists()
        beta = json.loads((folder / "config.json").read_text())["training"]["config"]["beta"]
        m = json.loads((folder / "metrics.json").read_text())
        assert all(0.0 <= m["disentanglement"][k] <= 1.0 for k in METRIC_NAMES)
        assert f"--beta {beta:g} " in (folder / "README.md").read_text()
        assert f"| {beta:g} | {m['neg_elbo']:.2f} |" in table  # the β row of models/README.md
    entries, problems = list_models(user_dir=tmp_path)
    assert problems == [] and "sweeps" not in {e.name for e in entries}
    # a weight-less card folder in the shipped root is skipped, not listed or reported
    shipped = tmp_path / "shipped"
    (shipped / "cards-only").mkdir(parents=True)
    (shipped / "cards-only" / "config.json").write_text((folders[0] / "config.json").read_text())
    assert list_models(shipped_dir=shipped, user_dir=tmp_path / "none") == ([], [])
