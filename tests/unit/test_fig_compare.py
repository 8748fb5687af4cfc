"""Compare's pure builders (ui/fig_compare.py): the KL and −ELBO bars, pixel entropy and the
sentence on what differs, from constructed numbers."""
from __future__ import annotations

import math

import pytest
import torch

from ui import fig_compare as fc
from ui.fig_compare import ModelNumbers

BETA1 = ModelNumbers("mnist-2d", 2, 1.0, 138.1, 130.9, 7.2, (3.65, 3.53), "metrics.json")
BETA4 = ModelNumbers("mnist-10d-beta4", 10, 4.0, 150.3, 146.2, 4.1,
                     (0.0, 1.9, 0.004, 1.2, 0.0, 0.0, 1.0, 0.009, 0.0, 0.001), "computed")


def test_off_dimensions_use_the_active_units_threshold():
    assert fc.OFF_NATS == 0.01
    assert BETA4.off == [0, 2, 4, 5, 7, 8, 9] and BETA4.active == 3
    assert BETA1.off == [] and BETA1.active == 2
    edge = ModelNumbers("m", 2, 1.0, 1, 1, 0, (0.01, 0.0099))
    assert edge.off == [1]  # exactly the threshold counts as active


def test_kl_bars_sort_by_kl_and_grey_out_switched_off_dimensions():
    fig = fc.kl_bars(BETA1, BETA4)
    left, right = fig.data
    assert list(left.x) == ["z0", "z1"] and list(left.text) == ["", ""]
    assert list(right.x)[:3] == ["z1", "z3", "z6"]  # most used first
    assert list(right.y) == sorted(BETA4.kl_per_dim, reverse=True)
    assert list(right.text) == [""] * 3 + ["off"] * 7
    colours = list(right.marker.color)
    assert colours[:3] == [fc.SIDE_COLOURS[1]] * 3 and colours[3:] == [fc.OFF_COLOUR] * 7
    assert left.marker.color[0] == fc.SIDE_COLOURS[0]
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["mnist-2d<br>β = 1: 2 of 2 active", "mnist-10d-beta4<br>β = 4: 3 of 10 active"]
    assert fig.layout.yaxis.range[1] == pytest.approx(3.65 * 1.15)  # one scale for both panels
    assert left.yaxis == "y" and right.yaxis == "y2" and fig.layout.yaxis2.matches == "y"


def test_kl_bars_escape_model_names():
    evil = ModelNumbers("<b>x</b>", 1, 1.0, 1, 1, 0, (0.5,))
    fig = fc.kl_bars(evil, BETA1)
    assert "<b>" not in fig.layout.annotations[0].text and "&lt;b&gt;" in fig.layout.annotations[0].text


def test_elbo_bars_show_both_models_three_parts():
    fig = fc.elbo_bars(BETA1, BETA4)
    assert [t.name for t in fig.data] == [BETA1.title, BETA4.title]
    assert list(fig.data[0].x) == ["−ELBO", "reconstruction", "KL"]
    assert list(fig.data[1].y) == [150.3, 146.2, 4.1]
    assert list(fig.data[1].text) == ["150.3", "146.2", "4.1"]
    assert fig.layout.barmode == "group"


def test_pixel_entropy():
    assert fc.pixel_entropy(torch.tensor([0.0, 1.0]).reshape(1, 1, 1, 2)) == 0.0
    assert fc.pixel_entropy(torch.full((2, 1, 3, 3), 0.5)) == pytest.approx(math.log(2))
    sharp, blurry = torch.tensor([0.02, 0.98]), torch.tensor([0.3, 0.7])
    assert fc.pixel_entropy(blurry.reshape(1, 1, 1, 2)) > fc.pixel_entropy(sharp.reshape(1, 1, 1, 2))
    assert fc.pixel_entropy(torch.zeros(0, 1, 2, 2)) == 0.0


def test_the_sentence_says_what_differs_from_the_numbers():
    text = fc.differ_sentence(BETA1, BETA4, 0.168, 0.215)
    assert "mnist-2d (β = 1, 2-D) uses both its dimensions" in text
    assert "mnist-10d-beta4 (β = 4, 10-D) switched off 7 of its 10 dimensions" in text
    assert "mnist-2d reconstructs more faithfully (recon 130.9 vs mnist-10d-beta4's 146.2 nats)" in text
    assert "mnist-10d-beta4 stores less about each image in z (KL 4.1 vs mnist-2d's 7.2 nats)" in text
    assert "mnist-2d explains the test images better overall (−ELBO 138.1 vs mnist-10d-beta4's 150.3 nats)" in text
    assert "mnist-10d-beta4's prior samples are blurrier than mnist-2d's (mean pixel entropy 0.215 vs 0.168" in text


def test_the_sentence_follows_the_numbers_not_the_order():
    swapped = fc.differ_sentence(BETA4, BETA1, 0.215, 0.168)
    assert "mnist-2d reconstructs more faithfully" in swapped
    assert "mnist-10d-beta4's prior samples are blurrier" in swapped
    better4 = ModelNumbers("mnist-10d-beta4", 10, 4.0, 120.0, 110.0, 10.0, BETA4.kl_per_dim)
    text = fc.differ_sentence(BETA1, better4, 0.3, 0.1)
    assert "mnist-10d-beta4 reconstructs more faithfully (recon 110.0 vs mnist-2d's 130.9 nats)" in text
    assert "mnist-2d stores less about each image in z (KL 7.2 vs mnist-10d-beta4's 10.0 nats)" in text
    assert "mnist-2d's prior samples are blurrier than mnist-10d-beta4's" in text


def test_the_sentence_calls_small_differences_the_same_and_skips_samples_it_was_not_given():
    close = ModelNumbers("other", 2, 1.0, 138.3, 131.1, 7.2, (0.0, 0.0))
    text = fc.differ_sentence(BETA1, close)
    assert "other (β = 1, 2-D) switched off all 2 of its dimensions" in text
    assert "both have about the same recon (130.9 vs 131.1 nats)" in text
    assert "both have about the same −ELBO" in text
    assert "prior samples" not in text
    assert "about equally sharp" in fc.differ_sentence(BETA1, close, 0.2, 0.201)
    one = ModelNumbers("one", 1, 2.0, 1, 1, 0, (0.5,))
    assert "one (β = 2, 1-D) uses its one dimension" in fc.differ_sentence(one, BETA4)
