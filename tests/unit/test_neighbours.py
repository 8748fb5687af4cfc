"""vae/neighbours.py: nearest neighbours against brute force, ties, class means, attribute vectors."""
from __future__ import annotations

import math

import pytest
import torch

from vae import neighbours as nb


def _codes(n: int = 300, d: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _brute(q: torch.Tensor, m: torch.Tensor, metric: str) -> list[float]:
    """Distances one by one in plain Python (the formulas of the docstring)."""
    out = []
    for row in m.tolist():
        qs = q.tolist()
        if metric == "euclidean":
            out.append(math.sqrt(sum((a - b) ** 2 for a, b in zip(qs, row))))
        else:
            dot = sum(a * b for a, b in zip(qs, row))
            out.append(1 - dot / (math.sqrt(sum(a * a for a in qs)) * math.sqrt(sum(b * b for b in row))))
    return out


@pytest.mark.parametrize("metric", nb.METRICS)
def test_nearest_matches_brute_force(metric):
    m = _codes()
    queries = _codes(4, seed=1)
    idx, dist = nb.nearest(queries, m, 7, metric)
    assert idx.shape == (4, 7) and dist.shape == (4, 7) and idx.dtype == torch.int64
    for q, got_i, got_d in zip(queries, idx, dist):
        brute = _brute(q, m, metric)
        want = sorted(range(len(brute)), key=lambda i: (brute[i], i))[:7]
        assert got_i.tolist() == want
        assert got_d.tolist() == pytest.approx([brute[i] for i in want], abs=1e-9)
        assert (got_d[1:] >= got_d[:-1]).all()


@pytest.mark.parametrize("metric", nb.METRICS)
def test_a_single_query_gives_flat_results(metric):
    m = _codes()
    idx, dist = nb.nearest(m[3], m, 4, metric)
    assert idx.shape == (4,) and dist.shape == (4,)


@pytest.mark.parametrize("metric", nb.METRICS)
def test_the_nearest_neighbour_of_a_code_is_itself_at_distance_zero(metric):
    m = _codes()
    for i in (0, 17, 299):
        idx, dist = nb.nearest(m[i], m, 1, metric)
        assert int(idx[0]) == i and float(dist[0]) == 0.0


@pytest.mark.parametrize("metric", nb.METRICS)
def test_exact_ties_go_to_the_lower_index(metric):
    m = torch.tensor([[5.0, 5.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [9.0, 0.0]])
    # (1, 0) twice (positions 1 and 3); under cosine (9, 0) has the same direction too
    idx, dist = nb.nearest(torch.tensor([1.0, 0.0]), m, 3, metric)
    assert idx.tolist() == ([1, 3, 2] if metric == "euclidean" else [1, 3, 4])
    assert dist[0] == dist[1] == 0.0
    # reversed rows: the same rule (lowest index first among equal distances)
    flipped = torch.flip(m, dims=[0])
    idx2, dist2 = nb.nearest(torch.tensor([1.0, 0.0]), flipped, 2, metric)
    assert idx2.tolist() == ([1, 3] if metric == "euclidean" else [0, 1])
    assert dist2.tolist() == [0.0, 0.0]


def test_exclude_leaves_out_the_query_itself():
    m = _codes()
    idx, dist = nb.nearest(m[10], m, 5, exclude=[10])
    assert 10 not in idx.tolist() and float(dist[0]) > 0
    assert idx.tolist() == nb.nearest(m[10], m, 6)[0].tolist()[1:]


def test_cosine_ignores_length_and_euclid_does_not():
    m = torch.tensor([[10.0, 0.0], [0.9, 0.5]])
    assert nb.nearest(torch.tensor([1.0, 0.0]), m, 1, "cosine")[0].tolist() == [0]
    assert nb.nearest(torch.tensor([1.0, 0.0]), m, 1, "euclidean")[0].tolist() == [1]


@pytest.mark.parametrize("k", [0, -1, 301, 2.5, True])
def test_k_out_of_range_is_a_clear_error(k):
    with pytest.raises(ValueError, match="k must be an integer from 1 to 300"):
        nb.nearest(torch.zeros(5) + 1, _codes(), k)


def test_k_counts_the_excluded_positions():
    m = _codes(10)
    assert len(nb.nearest(m[0], m, 9, exclude=[0])[0]) == 9
    with pytest.raises(ValueError, match="from 1 to 9"):
        nb.nearest(m[0], m, 10, exclude=[0])
    with pytest.raises(ValueError, match="exclude positions"):
        nb.nearest(m[0], m, 1, exclude=[10])


def test_zero_vectors_with_cosine_are_a_clear_error():
    m = _codes(10)
    with pytest.raises(ValueError, match="zero vector.*query"):
        nb.nearest(torch.zeros(5), m, 3, "cosine")
    m[4] = 0
    with pytest.raises(ValueError, match="zero vector.*means row 4"):
        nb.nearest(torch.ones(5), m, 3, "cosine")
    assert len(nb.nearest(torch.zeros(5), m, 3, "euclidean")[0]) == 3  # fine for Euclid


def test_bad_shapes_and_metrics_are_errors():
    with pytest.raises(ValueError, match="metric"):
        nb.nearest(torch.ones(5), _codes(), 1, "manhattan")
    with pytest.raises(ValueError, match="D = 5"):
        nb.nearest(torch.ones(4), _codes(), 1)
    with pytest.raises(ValueError, match="finite"):
        nb.nearest(torch.tensor([float("nan")] * 5), _codes(), 1)


def _clusters() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three clusters of 50 codes around known centres (noise averages out to ~0.1)."""
    centres = torch.tensor([[0.0, 0.0, 0.0], [3.0, 1.0, 0.0], [-2.0, 0.0, 4.0]])
    gen = torch.Generator().manual_seed(3)
    labels = torch.arange(3).repeat_interleave(50)
    noise = torch.randn(150, 3, generator=gen) * 0.3
    noise -= torch.stack([noise[labels == c].mean(0) for c in range(3)])[labels]  # exact centres
    return centres[labels] + noise, labels, centres


def test_class_means_are_the_cluster_centres():
    means, labels, centres = _clusters()
    got = nb.class_means(means, labels)
    assert got.shape == (3, 3)
    torch.testing.assert_close(got, centres.to(torch.float64), atol=1e-6, rtol=0)


def test_class_means_of_an_empty_class_are_nan():
    got = nb.class_means(torch.ones(4, 2), torch.tensor([0, 0, 2, 2]))
    assert torch.isnan(got[1]).all() and got[0].tolist() == [1.0, 1.0]
    assert nb.class_means(torch.ones(4, 2), torch.tensor([0, 0, 2, 2]), num_classes=5).shape == (5, 2)


def test_attribute_vector_of_constructed_clusters():
    means, labels, centres = _clusters()
    v = nb.attribute_vector(means, labels, 0, 1)
    torch.testing.assert_close(v, (centres[1] - centres[0]).to(torch.float64), atol=1e-6, rtol=0)
    # adding it to a code of class 0 lands at the same offset inside class 1
    z = means[0]
    moved = nb.apply_attribute(z, v, 1.0)
    torch.testing.assert_close(moved, z + centres[1] - centres[0], atol=1e-5, rtol=0)
    assert nb.attribute_vector(means, labels, 2, 2).abs().max() == 0


def test_attribute_vector_from_sets_is_the_difference_of_set_means():
    means, labels, centres = _clusters()
    a = torch.nonzero(labels == 0).reshape(-1)
    b = torch.nonzero(labels != 0).reshape(-1)  # classes 1 and 2 together
    v = nb.attribute_vector_from_sets(means, a, b.tolist())
    want = (centres[1] + centres[2]) / 2 - centres[0]
    torch.testing.assert_close(v, want.to(torch.float64), atol=1e-6, rtol=0)


def test_empty_selections_are_clear_errors():
    means, labels, _ = _clusters()
    with pytest.raises(ValueError, match="set A is empty"):
        nb.attribute_vector_from_sets(means, [], [1, 2])
    with pytest.raises(ValueError, match="set B is empty"):
        nb.attribute_vector_from_sets(means, [1], torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="outside"):
        nb.attribute_vector_from_sets(means, [1], [150])
    with pytest.raises(ValueError, match="no images of class 7"):
        nb.attribute_vector(means, labels, 7, 1)


def test_apply_attribute_shapes_and_values():
    z = torch.tensor([1.0, 2.0])
    v = torch.tensor([0.5, -1.0], dtype=torch.float64)
    assert nb.apply_attribute(z, v, 2.0).tolist() == [2.0, 0.0]
    assert nb.apply_attribute(z, v, 0.0).tolist() == z.tolist()
    strip = nb.apply_attribute(z, v, torch.tensor([-2.0, 0.0, 1.0]))
    assert strip.shape == (3, 2) and strip.dtype == torch.float32
    assert strip.tolist() == [[0.0, 4.0], [1.0, 2.0], [1.5, 1.0]]
    batch = nb.apply_attribute(torch.zeros(4, 2), v, -1.0)
    assert batch.shape == (4, 2) and batch[3].tolist() == [-0.5, 1.0]
    with pytest.raises(ValueError, match="dimensions"):
        nb.apply_attribute(torch.zeros(3), v, 1.0)


def test_ink_sets_pick_the_least_and_most_ink_within_each_class():
    # class 0: ink 0..9 (positions 0..9); class 1: ink 20..29 (positions 10..19), in 28x28 images
    levels = torch.cat([torch.arange(10), torch.arange(20, 30)])
    images = levels.reshape(-1, 1, 1, 1).repeat(1, 1, 28, 28).to(torch.uint8)
    labels = torch.tensor([0] * 10 + [1] * 10)
    thin, thick = nb.ink_sets(images, labels, fraction=0.2)
    assert thin.tolist() == [0, 1, 10, 11] and thick.tolist() == [8, 9, 18, 19]
    assert nb.ink(images)[9] == pytest.approx(9 / 255)
    with pytest.raises(ValueError, match="fraction"):
        nb.ink_sets(images, labels, fraction=0.0)


def test_page_builders():
    from ui import fig_neighbours as fn

    assert fn.strength_text((-2.0, 0.0, 1.5)) == "s = −2, 0, +1.5"
    assert fn.neighbour_caption(3, 1100, "7", 0.06512) == "3. #1100 · 7 · d 0.0651"
    centres = torch.tensor([[0.0, 0.0], [float("nan"), float("nan")], [3.0, 0.0]]).numpy()
    assert fn.nearest_class(torch.tensor([2.0, 0.1]).numpy(), centres) == 2
    assert fn.nearest_class(torch.tensor([2.0, 0.1]).numpy(), centres[1:2]) is None
    png = fn.strip_png(torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0)), 2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


class _FakeMultiselect:
    """A container whose multiselect returns ``value`` whatever the options (a tampered client)."""

    def __init__(self, value):
        self.value = value

    def multiselect(self, *args, **kwargs):
        return self.value


@pytest.mark.parametrize(("sent", "kept"), [([3, 1, 3], [3, 1]), ([1, "1", 99, True, None], [1]),
                                            ("1", []), (None, []), ([0, 1, 2, 3], [0, 1])])
def test_multiselect_keeps_only_distinct_options(sent, kept):
    from ui import inputs

    got = inputs.multiselect("Classes", range(4), where=_FakeMultiselect(sent),
                             max_selections=2 if len(sent or []) == 4 else None)
    assert got == kept
