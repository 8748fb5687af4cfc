"""A procedural dSprites-like dataset (Matthey et al. 2017), generated from a seed: no download.

Each image shows one white shape on black: square, ellipse or heart, with a scale,
rotation and x/y position drawn uniformly. The factors come back with the images, so one
can check which latent dimension tracks which factor. Pixels are anti-aliased by 3x3
supersampling, so values are graded at the edges like MNIST's.
"""
from __future__ import annotations

import math

import torch

from .base import ImageData

SHAPE_NAMES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")
SCALE_RANGE = (0.5, 1.0)
ROTATION_RANGE = (-math.pi / 4, math.pi / 4)  # one period of the square's symmetry: no ambiguity
POSITION_RANGE = (0.3, 0.7)  # fraction of the image; keeps every shape inside the frame
BASE_RADIUS = 0.2  # shape radius at scale 1, as a fraction of the image side
SUPERSAMPLE = 3


def sample_factors(n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 5) factors: shape index, scale, rotation (radians), x, y (fractions of the side)."""
    shape = torch.randint(0, len(SHAPE_NAMES), (n,), generator=generator).float()
    u = torch.rand(n, 4, generator=generator)
    lo = torch.tensor([SCALE_RANGE[0], ROTATION_RANGE[0], POSITION_RANGE[0], POSITION_RANGE[0]])
    hi = torch.tensor([SCALE_RANGE[1], ROTATION_RANGE[1], POSITION_RANGE[1], POSITION_RANGE[1]])
    return torch.cat([shape[:, None], lo + u * (hi - lo)], dim=1)


def _inside(shape: int, lx: torch.Tensor, ly: torch.Tensor) -> torch.Tensor:
    """Boolean mask of points inside one kind of shape, in shape-local coordinates (y up)."""
    if shape == 0:
        return torch.maximum(lx.abs(), ly.abs()) <= 0.8
    if shape == 1:
        return lx.pow(2) + (ly / 0.55).pow(2) <= 1.0
    hx, hy = lx * 1.15, ly * 1.15 + 0.15
    return (hx.pow(2) + hy.pow(2) - 1.0).pow(3) - hx.pow(2) * hy.pow(3) <= 0.0


def render(factors: torch.Tensor, size: int = 28) -> torch.Tensor:
    """(n, 5) factors -> (n, 1, size, size) uint8 images."""
    k = SUPERSAMPLE
    coords = (torch.arange(size * k, dtype=torch.float32) + 0.5) / (size * k)
    py, px = torch.meshgrid(coords, coords, indexing="ij")  # (S, S), y grows downwards
    shape, scale, rot, x, y = factors.unbind(dim=1)
    radius = (BASE_RADIUS * scale).view(-1, 1, 1)
    dx = (px - x.view(-1, 1, 1)) / radius
    dy = (y.view(-1, 1, 1) - py) / radius  # flip so that +y is up
    cos, sin = torch.cos(rot).view(-1, 1, 1), torch.sin(rot).view(-1, 1, 1)
    lx, ly = cos * dx + sin * dy, -sin * dx + cos * dy
    mask = torch.empty_like(lx)
    for kind in range(len(SHAPE_NAMES)):
        sel = shape == kind
        mask[sel] = _inside(kind, lx[sel], ly[sel]).float()
    cover = torch.nn.functional.avg_pool2d(mask[:, None], kernel_size=k)
    return (cover * 255.0).round().to(torch.uint8)


def make_shapes(n: int, seed: int, size: int = 28, split: str = "train", chunk: int = 2000) -> ImageData:
    """Generate ``n`` images of ``size`` x ``size`` from ``seed`` (same seed, same data)."""
    if size not in (28, 64):
        raise ValueError(f"shapes are generated at 28x28 or 64x64, not {size}x{size}")
    generator = torch.Generator().manual_seed(seed)
    factors = sample_factors(n, generator)
    images = torch.cat([render(factors[i:i + chunk], size) for i in range(0, n, chunk)]) if n else \
        torch.zeros(0, 1, size, size, dtype=torch.uint8)
    return ImageData(
        name="shapes" if size == 28 else "shapes-64", split=split, images=images,
        labels=factors[:, 0].long(), classes=SHAPE_NAMES,
        source=f"generated procedurally ({n} images, seed {seed})",
        factors=factors, factor_names=FACTOR_NAMES,
    )
