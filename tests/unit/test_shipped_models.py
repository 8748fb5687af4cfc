"""Every shipped model loads offline, matches its card, and reconstructs real data better than noise."""
import json

import pytest
import torch

from services.catalog import SHIPPED_DIR, list_models
from vae import explore, load, load_dataset

EXPECTED = {"mnist-2d": ("mnist", 2), "mnist-20d": ("mnist", 20), "mnist-cond-2d": ("mnist", 2),
            "mnist-10d-beta4": ("mnist", 10), "fashion-2d": ("fashion-mnist", 2),
            "fashion-16d": ("fashion-mnist", 16), "shapes": ("shapes", None)}
CARD_METRICS = ("neg_elbo", "recon", "kl", "active_units", "iwae_nll", "iwae_k", "kl_per_dim")


def test_all_expected_models_are_listed_and_small():
    entries, problems = list_models(user_dir=SHIPPED_DIR / "__none__")
    assert problems == []
    assert {e.name for e in entries} == set(EXPECTED)
    size = sum(f.stat().st_size for f in SHIPPED_DIR.rglob("*") if f.is_file())
    assert size <= 25 * 1024 * 1024, f"models/ is {size / 2**20:.1f} MiB"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model_card_and_config(name):
    ckpt = load(SHIPPED_DIR / name)
    dataset, dim = EXPECTED[name]
    assert ckpt.dataset == dataset
    if dim is not None:
        assert ckpt.config.latent_dim == dim
    card = json.loads((SHIPPED_DIR / name / "config.json").read_text())
    assert card["model"] == ckpt.config.to_dict()
    t = card["training"]
    assert t["epochs_done"] == t["config"]["epochs"] and t["wall_seconds"] > 0 and t["device"]
    assert all(k in ckpt.metrics for k in CARD_METRICS)
    assert ckpt.metrics["iwae_k"] >= 100 and ckpt.metrics["n"] >= 2000
    assert ckpt.metrics["iwae_nll"] <= ckpt.metrics["neg_elbo"] + 0.5
    readme = (SHIPPED_DIR / name / "README.md").read_text()
    assert "python -m vae.train" in readme and f"{ckpt.metrics['neg_elbo']:.2f}" in readme


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reconstructs_its_own_sample_better_than_noise(name, tmp_path):
    ckpt = load(SHIPPED_DIR / name)
    # offline: the shipped sample (a data dir with nothing in it), or generated shapes
    data = load_dataset(ckpt.dataset, "test", data_dir=tmp_path, download=False)
    x = data.float_images(slice(0, 500))
    y = data.labels[:500] if ckpt.model.num_classes else None  # a class-conditional model: the true classes
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    real = explore.neg_elbo(ckpt.model, x, g, labels=y).mean()
    fake = explore.neg_elbo(ckpt.model, noise, g, labels=y).mean()
    assert real < 0.5 * fake, (real, fake)
    err_real = (explore.reconstruct(ckpt.model, x, labels=y) - x).pow(2).mean()
    err_noise = (explore.reconstruct(ckpt.model, noise, labels=y) - noise).pow(2).mean()
    assert err_real < 0.5 * err_noise


def test_shapes_card_names_the_factor_of_each_latent():
    readme = (SHIPPED_DIR / "shapes" / "README.md").read_text()
    assert "Which latent tracks which factor" in readme
    metrics = load(SHIPPED_DIR / "shapes").metrics
    corr = metrics["factor_correlation"]
    best = {max(v, key=v.get) for z, v in corr.items() if metrics["kl_per_dim"][int(z[1:])] > 0.1}
    assert {"x", "y", "scale"} <= best  # position and size each have a latent of their own


def test_models_readme_table_lists_every_model():
    text = (SHIPPED_DIR / "README.md").read_text()
    for name in EXPECTED:
        assert f"| {name} |" in text and f"--out runs/{name} && python -m vae.ship runs/{name} models/{name}" in text
