"""vae.plane.LatentPlane: the plane of the Latent map (identity for D = 2, PCA above), checked
against explicit formulas rather than through the app."""
import math

import pytest
import torch

from vae.plane import LatentPlane, standard_normal_grid

PHI_INV_95 = 1.6448536269514722  # Phi^-1(0.95)


def _codes(d=5, n=600, seed=0) -> torch.Tensor:
    """(n, d) anisotropic, rotated, off-centre codes, so PCA has distinct, non-axis directions."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
    return (torch.randn(n, d, generator=g) * torch.linspace(3.0, 0.3, d)) @ q.T + torch.linspace(-1, 1, d)


def _on_plane(plane: LatentPlane, z: torch.Tensor) -> torch.Tensor:
    """The part of z - origin orthogonal to the plane (zero for points on it)."""
    rel = z - plane.origin
    return rel - (rel @ plane.axes.T) @ plane.axes


def test_standard_normal_grid_is_inverse_cdf():
    g = standard_normal_grid(5)
    assert g[2] == pytest.approx(0.0, abs=1e-6)
    assert g[0] == pytest.approx(-PHI_INV_95, abs=1e-6) and g[-1] == pytest.approx(PHI_INV_95, abs=1e-6)
    assert torch.all(g[1:] > g[:-1])
    # equal probability per step: Phi(g) is evenly spaced
    cdf = 0.5 * (1 + torch.erf(g.double() / math.sqrt(2)))
    torch.testing.assert_close(cdf, torch.linspace(0.05, 0.95, 5, dtype=torch.float64), atol=1e-6, rtol=0)


def test_two_d_plane_is_the_latent_space_itself():
    means = _codes(d=2)
    plane = LatentPlane.fit(means)
    assert not plane.is_pca and plane.latent_dim == 2 and plane.basis is None
    assert plane.axis_names == plane.axis_titles == ("z0", "z1")
    assert plane.title() == "Latent means of 600 test images"
    p = torch.tensor([[0.5, -1.25], [3.0, 2.0]])
    assert torch.equal(plane.to_z(p), p) and torch.equal(plane.coords(means), means)
    mean, std = torch.tensor([[0.3, -0.7], [1.0, 2.0]]), torch.tensor([[0.5, 0.2], [0.1, 1.5]])
    points, covs = plane.project(mean, std)
    assert torch.equal(points, mean)
    assert torch.equal(covs, torch.diag_embed(std ** 2))
    one_point, one_cov = plane.project(mean[0], std[0])
    assert one_point.shape == (2,) and torch.equal(one_cov, torch.diag(std[0] ** 2))
    # explained: each coordinate's share of the total variance
    var = means.var(dim=0)
    torch.testing.assert_close(plane.explained, var / var.sum())


def test_two_d_grid_is_the_kingma_welling_grid_in_reading_order():
    plane = LatentPlane.fit(_codes(d=2))
    n = 4
    z, values = plane.grid(n)
    phi = torch.special.ndtri(torch.linspace(0.05, 0.95, n, dtype=torch.float64)).float()
    assert z.shape == (n * n, 2) and values.shape == (n, 2)
    assert torch.equal(values[:, 0], phi) and torch.equal(values[:, 1], phi)
    # Cell (row r, column c) is (phi[c], phi[n-1-r]): top row at the highest z1.
    expected = torch.tensor([[phi[c].item(), phi[n - 1 - r].item()] for r in range(n) for c in range(n)])
    assert torch.equal(z, expected)
    assert plane.box() == pytest.approx((-PHI_INV_95, PHI_INV_95, -PHI_INV_95, PHI_INV_95), abs=1e-6)


def test_pca_plane_axes_round_trip_and_labels():
    means = _codes()
    plane = LatentPlane.fit(means)
    assert plane.is_pca and plane.latent_dim == 5 and plane.axis_names == ("PC1", "PC2")
    torch.testing.assert_close(plane.axes @ plane.axes.T, torch.eye(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(plane.origin, means.mean(dim=0))
    p = torch.tensor([[1.0, -0.5], [-2.0, 0.25], [0.0, 0.0]])
    z = plane.to_z(p)
    assert z.shape == (3, 5)
    torch.testing.assert_close(_on_plane(plane, z), torch.zeros(3, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(plane.coords(z), p, atol=1e-5, rtol=0)
    torch.testing.assert_close(plane.to_z(p[0]), plane.origin + p[0, 0] * plane.axes[0] + p[0, 1] * plane.axes[1])
    ex = (100 * plane.explained).tolist()
    assert plane.axis_titles == (f"PC1 ({ex[0]:.1f}% of variance)", f"PC2 ({ex[1]:.1f}% of variance)")
    assert plane.title("codes") == "PCA projection of the 5-D latent means of 600 codes"
    basis = plane.basis
    assert basis["origin"] == plane.origin.tolist() and basis["axes"] == plane.axes.tolist()


def test_pca_axes_are_the_top_eigenvectors_with_a_fixed_sign():
    means = _codes()
    plane = LatentPlane.fit(means)
    evals, evecs = torch.linalg.eigh(torch.cov(means.T.double()))  # ascending
    for j in range(2):
        top = evecs[:, -1 - j].float()
        assert abs(float(top @ plane.axes[j])) == pytest.approx(1.0, abs=1e-4)
        assert plane.axes[j, plane.axes[j].abs().argmax()] > 0  # sign convention
    # explained ratios: eigenvalue / trace, descending, summing to at most 1
    torch.testing.assert_close(plane.explained.double(), (evals.flip(0)[:2] / evals.sum()), atol=1e-5, rtol=0)
    assert plane.explained[0] > plane.explained[1] > 0 and float(plane.explained.sum()) <= 1.0
    # deterministic: the same codes give the same plane; negated codes give the same axes
    again = LatentPlane.fit(means.clone())
    assert torch.equal(again.axes, plane.axes) and torch.equal(again.scale, plane.scale)
    torch.testing.assert_close(LatentPlane.fit(-means).axes, plane.axes, atol=1e-5, rtol=0)


def test_pca_recovers_a_dominant_axis():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 5, generator=g) * torch.tensor([5.0, 1.0, 0.5, 0.1, 0.1])
    plane = LatentPlane.fit(z)
    assert plane.explained[0] > 0.9 and plane.axes[0, 0] > 0.99
    assert plane.scale[0] == pytest.approx(5.0, rel=0.05) and plane.scale[1] == pytest.approx(1.0, rel=0.05)


def test_project_is_the_linear_image_of_the_posterior():
    plane = LatentPlane.fit(_codes())
    mean = torch.tensor([0.3, -1.0, 2.0, 0.1, 0.0])
    std = torch.tensor([0.5, 0.2, 1.0, 0.3, 0.7])
    point, cov = plane.project(mean, std)
    w = plane.axes
    assert point.shape == (2,) and cov.shape == (2, 2)
    torch.testing.assert_close(point, (mean - plane.origin) @ w.T)
    torch.testing.assert_close(cov, w @ torch.diag(std ** 2) @ w.T)
    # Monte Carlo: project samples of the posterior and compare mean and covariance.
    g = torch.Generator().manual_seed(1)
    samples = plane.coords(mean + std * torch.randn(200_000, 5, generator=g))
    torch.testing.assert_close(samples.mean(0), point, atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), cov, atol=0.01, rtol=0)
    # batched: (K, D) -> (K, 2), (K, 2, 2), each equal to the single projection
    points, covs = plane.project(torch.stack([mean, -mean]), torch.stack([std, 2 * std]))
    assert points.shape == (2, 2) and covs.shape == (2, 2, 2)
    torch.testing.assert_close(points[0], point)
    torch.testing.assert_close(covs[1], 4 * cov)


def test_pca_grid_lies_on_the_plane_scaled_to_the_spread_of_the_codes():
    means = _codes()
    plane = LatentPlane.fit(means)
    spread = plane.coords(means).std(dim=0)
    torch.testing.assert_close(plane.scale, spread)
    n = 5
    z, values = plane.grid(n)
    assert z.shape == (n * n, 5) and values.shape == (n, 2)
    torch.testing.assert_close(values, standard_normal_grid(n)[:, None] * spread[None, :])
    torch.testing.assert_close(_on_plane(plane, z), torch.zeros(n * n, 5), atol=1e-5, rtol=0)
    expected = torch.tensor([[values[c, 0].item(), values[n - 1 - r, 1].item()] for r in range(n) for c in range(n)])
    torch.testing.assert_close(plane.coords(z), expected, atol=1e-5, rtol=0)
    x0, x1, y0, y1 = plane.box()
    assert (x0, x1) == pytest.approx((-PHI_INV_95 * spread[0].item(), PHI_INV_95 * spread[0].item()), rel=1e-5)
    assert (y0, y1) == pytest.approx((-PHI_INV_95 * spread[1].item(), PHI_INV_95 * spread[1].item()), rel=1e-5)


def test_fit_refuses_what_has_no_plane():
    with pytest.raises(ValueError, match="D >= 2"):
        LatentPlane.fit(torch.zeros(10, 1))
    with pytest.raises(ValueError, match="at least 2 codes"):
        LatentPlane.fit(torch.zeros(1, 4))
