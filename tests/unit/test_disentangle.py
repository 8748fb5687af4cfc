"""Disentanglement metrics on synthetic codes with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae.disentangle import dci, discretize, disentanglement_report, entropy, mig, mutual_information, sap

N = 4000
LEVELS = (10, 8, 6, 5)  # values per factor


def _factors(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, c, N) for c in LEVELS], axis=1)


def _disentangled(factors: np.ndarray, seed: int = 1) -> np.ndarray:
    """z_k = standardised factor k + tiny noise, then two pure-noise dimensions: (N, K + 2)."""
    rng = np.random.default_rng(seed)
    f = factors.astype(np.float64)
    z = (f - f.mean(axis=0)) / f.std(axis=0) + 0.01 * rng.standard_normal(f.shape)
    return np.concatenate([z, rng.standard_normal((len(f), 2))], axis=1)


def _rotated(codes: np.ndarray) -> np.ndarray:
    """Orthogonal 45-degree rotation of latent pairs (0, 1) and (2, 3): each factor is spread over two latents."""
    c = s = 1.0 / math.sqrt(2.0)
    rot = np.eye(codes.shape[1])
    for a in (0, 2):
        rot[a:a + 2, a:a + 2] = [[c, -s], [s, c]]
    assert np.allclose(rot @ rot.T, np.eye(codes.shape[1]))
    return codes @ rot.T


def test_disentangled_codes_score_high() -> None:
    factors = _factors()
    codes = _disentangled(factors)
    m, s, d = mig(codes, factors), sap(codes, factors), dci(codes, factors)
    assert m["score"] > 0.9
    assert m["mi"].shape == (6, 4)
    assert np.array_equal(m["mi"][:4].argmax(axis=1), np.arange(4))
    assert s["score"] > 0.5
    assert s["matrix"].shape == (6, 4)
    assert d["disentanglement"] > 0.9 and d["completeness"] > 0.9
    assert d["informativeness"] > 0.9
    assert d["importance"].shape == (6, 4)


def test_rotated_codes_are_entangled() -> None:
    factors = _factors()
    codes = _disentangled(factors)
    rotated = _rotated(codes)
    assert mig(rotated, factors)["score"] < 0.3
    assert sap(rotated, factors)["score"] < sap(codes, factors)["score"] - 0.3
    d_rot, d_ok = dci(rotated, factors), dci(codes, factors)
    assert d_rot["disentanglement"] < d_ok["disentanglement"] - 0.3
    assert d_rot["completeness"] < d_ok["completeness"] - 0.2
    # a rotation loses no information: a linear regressor still predicts every factor
    assert d_rot["informativeness"] > 0.9


def test_pure_noise_codes_score_near_zero() -> None:
    factors = _factors()
    noise = np.random.default_rng(2).standard_normal((N, 6))
    assert mig(noise, factors)["score"] < 0.05
    assert dci(noise, factors)["informativeness"] < 0.05
    assert sap(noise, factors)["score"] < 0.05


def test_mutual_information_and_entropy_by_hand() -> None:
    # 2 bins: [0, 0.5) -> 0, [0.5, 1] -> 1
    assert discretize(np.array([[0.0], [0.1], [0.6], [1.0]]), bins=2)[:, 0].tolist() == [0, 0, 1, 1]
    assert entropy(np.array([0, 0, 1, 1])) == pytest.approx(math.log(2), abs=1e-9)
    assert entropy(np.array([0, 0, 0, 1])) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)),
                                                            abs=1e-9)
    assert mutual_information(np.array([0, 0, 1, 1]), np.array([5, 5, 7, 7])) == pytest.approx(math.log(2), abs=1e-9)
    assert mutual_information(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])) == pytest.approx(0.0, abs=1e-9)
    # p(a,b): (0,0)=1/2, (0,1)=1/4, (1,1)=1/4; p(a)=(3/4, 1/4), p(b)=(1/2, 1/2)
    expected = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    assert mutual_information(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1])) == pytest.approx(expected, abs=1e-9)


def test_mig_tiny_example_by_hand() -> None:
    # factor 0 is read exactly by latent 0 (2 bins) and not at all by latent 1: gap = (log 2 - 0) / log 2 = 1
    factors = np.array([[0], [1]] * 6)
    latent0 = [0.0, 1.0, 0.1, 0.9, 0.0, 1.0] * 2  # bins 0, 1, 0, 1, ...: equal to the factor
    latent1 = [0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]  # 3 of each bin per factor value
    codes = np.array([latent0, latent1]).T
    result = mig(codes, factors, bins=2)
    assert result["entropy"][0] == pytest.approx(math.log(2), abs=1e-9)
    assert result["mi"][0, 0] == pytest.approx(1.0, abs=1e-9)
    assert result["mi"][1, 0] == pytest.approx(0.0, abs=1e-9)
    assert result["score"] == pytest.approx(1.0, abs=1e-9)


def test_deterministic_and_accepts_tensors() -> None:
    factors = _factors()
    codes = _rotated(_disentangled(factors))
    first = disentanglement_report(codes, factors)
    again = disentanglement_report(torch.from_numpy(codes).float(), torch.from_numpy(factors))
    assert set(first) == {"mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness"}
    for key, value in first.items():
        assert again[key] == pytest.approx(value, abs=1e-4), key
    assert disentanglement_report(codes, factors) == first


@pytest.mark.parametrize(("codes", "factors", "message"), [
    (np.zeros((20, 3)), np.zeros((19, 2), dtype=int), "same N"),
    (np.zeros(20), np.zeros((20, 2), dtype=int), "2-D"),
    (np.zeros((5, 3)), np.zeros((5, 2), dtype=int), "at least 10 samples"),
    (np.random.default_rng(0).normal(size=(20, 3)), np.zeros((20, 2), dtype=int), "factor 0 is constant"),
    (np.zeros((20, 3)), np.random.default_rng(0).normal(size=(20, 2)), "integer"),
    (np.full((20, 3), np.nan), np.tile([[0, 1], [1, 0]], (10, 1)), "NaN"),
    (np.zeros((20, 1)), np.tile([[0, 1], [1, 0]], (10, 1)), "at least 2 latent"),
])
def test_bad_inputs_raise(codes: np.ndarray, factors: np.ndarray, message: str) -> None:
    for metric in (mig, sap, dci):
        with pytest.raises(ValueError, match=message):
            metric(codes, factors)


def test_dci_needs_two_factors_and_valid_options() -> None:
    codes = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="at least 2 factors"):
        dci(codes, np.tile([[0], [1]], (10, 1)))
    factors = np.tile([[0, 1], [1, 0]], (10, 1))
    with pytest.raises(ValueError, match="test_fraction"):
        sap(codes, factors, test_fraction=1.0)
    with pytest.raises(ValueError, match="bins"):
        mig(codes, factors, bins=1)
