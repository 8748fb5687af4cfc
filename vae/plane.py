"""The 2-D plane the Latent map shows: the latent space itself for 2-D models, the plane of the
first two principal axes of the encoded means above that.

Both are one affine map between plane coordinates p = (a, b) and latents z (D,):

    z = origin + a * axes[0] + b * axes[1],        p = (z - origin) @ axes^T,

with orthonormal ``axes`` (2, D). For D = 2 the origin is 0 and the axes are the unit vectors,
so p = z; for D > 2 the origin is the mean code and the axes are PC1 and PC2 (Pearson 1901;
computed by the SVD of the centred means). Everything downstream (points, posterior ellipses,
the manifold grid, the browser's pad) goes through this one map, with no case split.

Pure torch, no UI.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


def standard_normal_grid(n: int, low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """(n,) values equally spaced in probability: Phi^-1(linspace(low, high, n)).

    As in Kingma & Welling (2014), fig. 4: decoding on this grid shows the manifold with
    equal prior mass per cell.
    """
    p = torch.linspace(low, high, n, dtype=torch.float64)
    return torch.special.ndtri(p).float()


def _principal_axes(means: torch.Tensor) -> torch.Tensor:
    """(2, D) first two principal axes of (N, D) ``means``: the top right-singular vectors of the
    centred data, each signed so that its largest-magnitude entry is positive (repeatable)."""
    centred = (means - means.mean(dim=0)).double()
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)
    comps = vt[:2]
    signs = torch.sign(comps[torch.arange(2), comps.abs().argmax(dim=1)])
    signs[signs == 0] = 1.0
    return (comps * signs.reshape(-1, 1)).float()


@dataclass(frozen=True)
class LatentPlane:
    """A 2-D plane through latent space and the spread of the codes on it.

    ``origin`` (D,) and orthonormal ``axes`` (2, D) define the map (module docstring);
    ``scale`` (2,) is the std of the codes along each axis for a PCA plane (1 for a 2-D model:
    the prior's std), which sizes the manifold grid; ``explained`` (2,) is the fraction of the
    codes' total variance along each axis; ``n_codes`` is how many means it was fitted on.
    Build it with :meth:`fit`.
    """

    origin: torch.Tensor
    axes: torch.Tensor
    scale: torch.Tensor
    explained: torch.Tensor
    n_codes: int

    @classmethod
    def fit(cls, means: torch.Tensor) -> LatentPlane:
        """The plane for (N, D) posterior means, D >= 2: the identity for D = 2, the PCA plane
        (origin the mean code, axes PC1 and PC2, scale the std of the projected codes) for D > 2.

        ``explained[j]`` = Var(p_j) / tr Cov(z): for PCA the eigenvalue ratio lambda_j / sum lambda."""
        means = torch.as_tensor(means, dtype=torch.float32)
        if means.ndim != 2 or means.shape[1] < 2:
            raise ValueError(f"a latent plane needs (N, D) means with D >= 2, got shape {tuple(means.shape)}")
        n, d = means.shape
        if d == 2:
            origin, axes, scale = torch.zeros(2), torch.eye(2), torch.ones(2)
        else:
            if n < 2:
                raise ValueError(f"a PCA plane needs at least 2 codes, got {n}")
            origin, axes = means.mean(dim=0), _principal_axes(means)
            scale = ((means - origin) @ axes.T).std(dim=0)
        explained = _explained(means, axes)
        return cls(origin=origin, axes=axes, scale=scale, explained=explained, n_codes=n)

    @property
    def latent_dim(self) -> int:
        return int(self.origin.shape[0])

    @property
    def is_pca(self) -> bool:
        """True for a PCA plane (D > 2); False when the plane is the latent space itself."""
        return self.latent_dim > 2

    def to_z(self, points: Any) -> torch.Tensor:
        """Plane coordinates (..., 2) -> latents (..., D): origin + a * axes[0] + b * axes[1]."""
        p = torch.as_tensor(points, dtype=torch.float32)
        return self.origin + p @ self.axes

    def coords(self, z: Any) -> torch.Tensor:
        """Latents (..., D) -> plane coordinates (..., 2): the orthogonal projection (z - origin) axes^T."""
        return (torch.as_tensor(z, dtype=torch.float32) - self.origin) @ self.axes.T

    def project(self, mean: Any, std: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior(s) N(mean, diag std^2), each (D,) or (K, D), seen on the plane.

        The linear map W = ``axes`` sends a Gaussian N(m, S) to N(W (m - origin), W S W^T), here
        with S = diag(std^2): returns points (K, 2) and covariances (K, 2, 2),
        or (2,) and (2, 2) for a single (D,) posterior. For D = 2, diag(std^2) itself."""
        var = torch.as_tensor(std, dtype=torch.float32).pow(2)
        cov = torch.einsum("id,...d,jd->...ij", self.axes, var, self.axes)
        return self.coords(mean), cov

    def grid(self, n: int, low: float = 0.05, high: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
        """The n x n manifold grid: latents (n*n, D) and the per-axis values (n, 2).

        Column j of the values is ``scale[j] * Phi^-1(linspace(low, high, n))`` (Kingma & Welling
        2014, fig. 4, scaled to the spread of the codes on a PCA plane). The latents are in
        reading order: row-major, the top row at the highest second coordinate, so cell (r, c)
        is the plane point (values[c, 0], values[n-1-r, 1]). Decode them in one batched call."""
        values = standard_normal_grid(n, low, high).reshape(-1, 1) * self.scale.reshape(1, 2)
        ys, xs = torch.meshgrid(values[:, 1].flip(0), values[:, 0], indexing="ij")
        return self.to_z(torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)), values

    def box(self, low: float = 0.05, high: float = 0.95) -> tuple[float, float, float, float]:
        """(x0, x1, y0, y1): the area :meth:`grid` covers, in plane coordinates."""
        lo, hi = standard_normal_grid(2, low, high).tolist()
        sx, sy = self.scale.tolist()
        return (lo * sx, hi * sx, lo * sy, hi * sy)

    @property
    def axis_names(self) -> tuple[str, str]:
        """("z0", "z1") or ("PC1", "PC2")."""
        return ("PC1", "PC2") if self.is_pca else ("z0", "z1")

    @property
    def axis_titles(self) -> tuple[str, str]:
        """("z0", "z1"), or ("PC1 (41.2% of variance)", "PC2 (18.0% of variance)") for a PCA plane."""
        if not self.is_pca:
            return self.axis_names
        x, y = (100.0 * self.explained).tolist()
        return (f"PC1 ({x:.1f}% of variance)", f"PC2 ({y:.1f}% of variance)")

    def title(self, what: str = "test images") -> str:
        """'Latent means of 10,000 test images' or 'PCA projection of the 20-D latent means of ...'."""
        if self.is_pca:
            return f"PCA projection of the {self.latent_dim}-D latent means of {self.n_codes:,} {what}"
        return f"Latent means of {self.n_codes:,} {what}"

    @property
    def basis(self) -> dict[str, list] | None:
        """What the browser's pad needs to map (a, b) to z: ``{"origin": (D,), "axes": [(D,), (D,)]}``
        as lists, or None for a 2-D model, where z = (a, b)."""
        if not self.is_pca:
            return None
        return {"origin": self.origin.tolist(), "axes": self.axes.tolist()}


def _explained(means: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """(2,) share of the total variance tr Cov(means) that lies along each of the orthonormal ``axes``."""
    centred = (means - means.mean(dim=0)).double()
    along = (centred @ axes.double().T).pow(2).sum(dim=0)
    return (along / centred.pow(2).sum().clamp_min(1e-12)).float()
