"""vae.explore.interpolate_at and pick_of_class (used by the Morph page)."""
import pytest
import torch

from vae import explore


def _pair(d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(d, generator=g), torch.randn(d, generator=g)


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolate_at_hits_the_endpoints_and_matches_the_steps(method):
    z0, z1 = _pair()
    ends = explore.interpolate_at(z0, z1, torch.tensor([0.0, 1.0]), method)
    torch.testing.assert_close(ends[0], z0, atol=1e-5, rtol=0)
    torch.testing.assert_close(ends[1], z1, atol=1e-5, rtol=0)
    steps = explore.interpolate(z0, z1, 5, method)
    torch.testing.assert_close(explore.interpolate_at(z0, z1, torch.linspace(0, 1, 5), method), steps)


def test_interpolate_at_a_float_gives_one_point():
    z0, z1 = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 4.0])
    out = explore.interpolate_at(z0, z1, 0.25, "linear")
    assert out.shape == (1, 2)
    torch.testing.assert_close(out[0], torch.tensor([1.5, 1.0]))


def test_spherical_keeps_the_norm_linear_shrinks_it():
    z0 = torch.tensor([3.0, 0.0, 0.0])
    z1 = torch.tensor([0.0, 3.0, 0.0])
    mid_s = explore.interpolate_at(z0, z1, 0.5, "spherical")[0]
    mid_l = explore.interpolate_at(z0, z1, 0.5, "linear")[0]
    assert mid_s.norm().item() == pytest.approx(3.0, abs=1e-5)
    assert mid_l.norm().item() == pytest.approx(3.0 / 2**0.5, abs=1e-5)


def test_interpolate_at_rejects_an_unknown_method():
    z0, z1 = _pair(4)
    with pytest.raises(ValueError, match="linear"):
        explore.interpolate_at(z0, z1, 0.5, "cubic")


def test_pick_of_class_is_seeded_and_of_the_class():
    labels = torch.tensor([0, 1, 2] * 50)
    picks = [explore.pick_of_class(labels, 2, torch.Generator().manual_seed(s)) for s in range(20)]
    assert all(labels[i] == 2 for i in picks)
    assert len(set(picks)) > 5, "different seeds should reach different images"
    again = [explore.pick_of_class(labels, 2, torch.Generator().manual_seed(s)) for s in range(20)]
    assert picks == again


def test_pick_of_class_with_no_images_raises():
    with pytest.raises(ValueError, match="no images of class 3"):
        explore.pick_of_class(torch.tensor([0, 1, 1]), 3, torch.Generator().manual_seed(0))
