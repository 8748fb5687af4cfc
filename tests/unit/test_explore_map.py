"""vae.explore.manifold: the Latent map's manifold grid, decoded in one batched call."""
import torch

from vae import explore
from vae.config import ModelConfig
from vae.models import build_model
from vae.plane import LatentPlane


def _model(d):
    return build_model(ModelConfig(arch="mlp", latent_dim=d, hidden=(16,)), generator=torch.Generator().manual_seed(0))


def _codes(d, n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * torch.linspace(3.0, 0.5, d)


def test_manifold_decodes_the_pca_plane_in_reading_order():
    model, plane = _model(5), LatentPlane.fit(_codes(5))
    n = 4
    images, values = explore.manifold(model, plane, n)
    assert images.shape == (n * n, 1, 28, 28) and values.shape == (n, 2)
    torch.testing.assert_close(values, plane.grid(n)[1])
    # Cell (row r, column c) decodes the plane point (PC1, PC2) = (values[c, 0], values[n-1-r, 1]):
    # reading order, top row at the highest PC2.
    points = torch.tensor([[float(values[c, 0]), float(values[n - 1 - r, 1])] for r in range(n) for c in range(n)])
    torch.testing.assert_close(images, explore.decode(model, plane.to_z(points)))
    assert not torch.allclose(images[0], images[-1])


def test_manifold_of_a_2d_model_decodes_z_itself(monkeypatch):
    model, plane = _model(2), LatentPlane.fit(_codes(2))
    calls = []
    decode_image = model.decode_image
    monkeypatch.setattr(model, "decode_image", lambda z, y=None: calls.append(z.shape) or decode_image(z, y))
    images, values = explore.manifold(model, plane, 3, low=0.1, high=0.9)
    assert calls == [(9, 2)]  # one batched decoder call
    phi = torch.special.ndtri(torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)).float()
    torch.testing.assert_close(values, torch.stack([phi, phi], dim=1))
    # top-left cell is (z0, z1) = (low, high)
    torch.testing.assert_close(images[0], decode_image(torch.stack([phi[0], phi[-1]]).reshape(1, 2))[0])
