"""vae.explore helpers for the Latent map: posteriors seen on the PCA plane, PCA-plane manifold."""
import torch

from vae import explore
from vae.config import ModelConfig
from vae.models import build_model


def _pca(d=5, n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g) * torch.linspace(3.0, 0.5, d)
    return z, explore.pca(z, k=2)


def test_project_posterior_is_the_linear_image_of_the_gaussian():
    z, p = _pca()
    mean = torch.tensor([0.3, -1.0, 2.0, 0.1, 0.0])
    std = torch.tensor([0.5, 0.2, 1.0, 0.3, 0.7])
    m2, cov = explore.project_posterior(p, mean, std)
    assert m2.shape == (2,) and cov.shape == (2, 2)
    torch.testing.assert_close(m2, (mean - p.mean) @ p.components.T)
    torch.testing.assert_close(cov, p.components @ torch.diag(std ** 2) @ p.components.T)
    # Monte Carlo check: project samples of the posterior and compare their covariance.
    g = torch.Generator().manual_seed(1)
    samples = p.transform(mean + std * torch.randn(200_000, 5, generator=g))
    torch.testing.assert_close(samples.mean(0), m2, atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), cov, atol=0.01, rtol=0)


def test_pca_manifold_grid_decodes_the_plane_in_reading_order():
    model = build_model(ModelConfig(arch="mlp", latent_dim=5, hidden=(16,)), generator=torch.Generator().manual_seed(0))
    z, p = _pca()
    spread = p.transform(z).std(dim=0)
    n = 4
    images, coords = explore.pca_manifold_grid(model, p, spread, n)
    assert images.shape == (n * n, 1, 28, 28)
    assert coords.shape == (n, 2)
    torch.testing.assert_close(coords, explore.standard_normal_grid(n)[:, None] * spread[None, :])
    # Cell (row r, column c) decodes the plane point (PC1, PC2) = (coords[c, 0], coords[n-1-r, 1]):
    # reading order, top row at the highest PC2.
    plane = torch.tensor([[float(coords[c, 0]), float(coords[n - 1 - r, 1])] for r in range(n) for c in range(n)])
    torch.testing.assert_close(images, explore.decode(model, p.inverse(plane)))
    assert not torch.allclose(images[0], images[-1])
