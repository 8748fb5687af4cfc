"""The live path's z_t (ui/live_assets/path.js, run in Node) equals vae.explore.interpolate_at's
to 1e-6, for lerp and slerp, including slerp's fallbacks to lerp (parallel, antiparallel and zero
codes); the path's plane polyline (ui/fig_live.path_points), the strip marker and the server-side
check of a released t (services.validate.unit_fraction).

Needs Node (``node`` on PATH) for the parity tests; skips them without it, unless
VAE_REQUIRE_BROWSER is set."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from services import validate
from ui import fig_live
from vae import explore
from vae.plane import LatentPlane

HARNESS = Path(__file__).with_name("js_path_harness.js")
TOLERANCE = 1e-6
TS = [0.0, 0.01, 0.1, 0.25, 0.37, 0.5, 0.63, 0.99, 1.0]


def _cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, z0, z1) float32 pairs: random codes in 2, 16 and 64 dims, and the fallback cases."""
    gen = torch.Generator().manual_seed(7)
    out = [(f"random {d}-D #{i}", torch.randn(d, generator=gen) * 1.5, torch.randn(d, generator=gen) * 1.5)
           for d in (2, 16, 64) for i in range(3)]
    a = torch.tensor([0.8, -1.2, 0.3, 2.0])
    out += [
        ("parallel", a, 2.5 * a),
        ("identical", a, a.clone()),
        ("antiparallel", a, -0.7 * a),
        ("zero start", torch.zeros(4), a),
        ("zero end", a, torch.zeros(4)),
        ("both zero", torch.zeros(4), torch.zeros(4)),
        ("nearly parallel", a, a + torch.tensor([1e-4, 0.0, 0.0, 0.0])),
        ("perpendicular", torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0])),
    ]
    return out


def _js(node: str, cases: list[dict]) -> list:
    out = subprocess.run([node, str(HARNESS)], input=json.dumps({"cases": cases}), capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["points"]


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_js_path_point_matches_interpolate_at(node, method):
    cases = _cases()
    got = _js(node, [{"z0": z0.tolist(), "z1": z1.tolist(), "t": TS, "method": method} for _, z0, z1 in cases])
    for (name, z0, z1), js in zip(cases, got):
        want = explore.interpolate_at(z0, z1, torch.tensor(TS), method).double().numpy()
        err = float(np.abs(np.asarray(js, dtype=np.float64) - want).max())
        assert err <= TOLERANCE, f"{method} {name}: max |JS - torch| = {err:.2e}"


def test_js_slerp_differs_from_lerp_where_it_should(node):
    """The parity above is not vacuous: for perpendicular codes slerp's midpoint keeps the length
    (|z| = 1 for unit codes), lerp's is shorter by 1/sqrt(2)."""
    z0, z1 = [1.0, 0.0], [0.0, 1.0]
    (lin,), (sph,) = _js(node, [{"z0": z0, "z1": z1, "t": [0.5], "method": m} for m in ("linear", "spherical")])
    assert abs(np.linalg.norm(lin) - 2 ** -0.5) < 1e-12 and abs(np.linalg.norm(sph) - 1.0) < 1e-12


def test_js_path_rejects_an_unknown_method(node):
    out = subprocess.run([node, str(HARNESS)], capture_output=True, text=True, timeout=60, check=False,
                         input=json.dumps({"cases": [{"z0": [1, 0], "z1": [0, 1], "t": [0.5], "method": "cubic"}]}))
    assert out.returncode != 0 and "method must be 'linear' or 'spherical'" in out.stderr


@pytest.mark.parametrize("value, want", [(0.0, 0.0), (1, 1.0), (0.37, 0.37), (np.float32(0.5), 0.5),
                                         (float("nan"), None), (float("inf"), None), (5, None), (-0.01, None),
                                         (1.0001, None), ("x", None), ("0.5", None), (True, None), (None, None),
                                         ([0.5], None), (10**400, None)])
def test_unit_fraction_accepts_only_finite_numbers_in_0_1(value, want):
    assert validate.unit_fraction(value) == want


def test_path_points_end_at_the_codes_and_a_pca_slerp_is_a_curve():
    gen = torch.Generator().manual_seed(3)
    means = torch.randn(500, 8, generator=gen) * torch.linspace(2, 0.2, 8)
    plane = LatentPlane.fit(means)
    z0, z1 = means[0], means[1]
    for method in ("linear", "spherical"):
        pts = fig_live.path_points(plane, z0, z1, method, k=32)
        xy = np.stack([pts["x"], pts["y"]], axis=1)
        assert xy.shape == (32, 2)
        ends = plane.coords(torch.stack([z0, z1])).numpy()
        assert np.allclose(xy[[0, -1]], ends, atol=1e-4)
    lin = fig_live.path_points(plane, z0, z1, "linear")
    sph = fig_live.path_points(plane, z0, z1, "spherical")
    lin_xy, sph_xy = np.array([lin["x"], lin["y"]]).T, np.array([sph["x"], sph["y"]]).T
    # a lerp projects to a straight segment (every point on the chord); the slerp leaves it
    chord = lin_xy[-1] - lin_xy[0]
    def off(xy: np.ndarray) -> float:  # largest distance from the chord's line
        d = xy - lin_xy[0]
        return float(np.abs(chord[0] * d[:, 1] - chord[1] * d[:, 0]).max() / np.linalg.norm(chord))
    assert off(lin_xy) < 1e-3 and off(sph_xy) > 0.02


def test_path_points_of_a_2d_model_are_the_codes_themselves():
    plane = LatentPlane.fit(torch.randn(50, 2, generator=torch.Generator().manual_seed(0)))
    z0, z1 = torch.tensor([-1.0, 0.5]), torch.tensor([2.0, 1.5])
    pts = fig_live.path_points(plane, z0, z1, "linear", k=5)
    assert pts["x"] == [-1.0, -0.25, 0.5, 1.25, 2.0] and pts["y"] == [0.5, 0.75, 1.0, 1.25, 1.5]


@pytest.mark.parametrize("t, steps, tile, want", [(0.0, 8, 28, 100 * 16 / 242), (1.0, 8, 28, 100 * 226 / 242),
                                                  (0.5, 3, 28, 50.0)])
def test_strip_marker_sits_under_the_step_at_t(t, steps, tile, want):
    html = fig_live.strip_marker_html(t, steps, tile)
    left = float(re.search(r"left:([\d.]+)%", html).group(1))
    assert abs(left - want) < 1e-3
    assert f'data-t="{t:.4f}"' in html
