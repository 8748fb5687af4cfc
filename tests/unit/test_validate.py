"""services.validate: every value from the browser re-checked before library code sees it."""
import numpy as np
import pytest

from services import validate

BAD_NUMBERS = [float("nan"), float("inf"), -float("inf"), "5", None, [1], {"x": 1}, True, False, 10**400]


def test_number_clamps_to_the_bounds():
    assert validate.number(3_000_000, 3, 16, 8, integer=True) == 16
    assert validate.number(-5, 0, 2**31 - 1, 0, integer=True) == 0
    assert validate.number(7, 0, 10, 0, integer=True) == 7
    assert validate.number(2.75, 0.1, 2.0, 1.0) == 2.0
    assert validate.number(0.05, 0.1, 2.0, 1.0) == 0.1
    assert validate.number(1.5e300, 0, 2**31 - 1, 0, integer=True) == 2**31 - 1
    assert validate.number(-1e300, -3.0, 3.0, 0.0) == -3.0


def test_number_keeps_in_range_values_and_types():
    assert validate.number(0.35, 0.0, 1.0, 0.5) == 0.35
    out = validate.number(12, 3, 16, 8, integer=True)
    assert out == 12 and type(out) is int
    assert type(validate.number(np.int64(5), 0, 9, 0, integer=True)) is int
    assert type(validate.number(1, 0.0, 2.0, 0.5)) is float
    assert validate.number(4.9, 0, 10, 0, integer=True) == 4  # truncated, as Streamlit's int()


def test_number_with_one_open_bound():
    assert validate.number(10**12, 0, None, 0, integer=True) == 10**12
    assert validate.number(-4, 0, None, 0, integer=True) == 0
    assert validate.number(-4.0, None, 5.0, 0.0) == -4.0


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_number_falls_back_to_the_default(bad):
    assert validate.number(bad, 0, 10, 6, integer=True) == 6
    assert validate.number(bad, 0.0, 1.0, 0.5) == 0.5


def test_choice_takes_only_an_option_of_the_same_type():
    sizes = (4, 6, 8, 10)
    assert validate.choice(6, sizes, 8) == 6
    for bad in ("8", 8.0, True, 7, None, "8 × 8", [8]):
        assert validate.choice(bad, sizes, 8) == 8
    assert validate.choice(True, (1, 2), 2) == 2  # True == 1, but it is not an option
    assert validate.choice("linear", ["linear", "spherical"], "spherical") == "linear"
    assert validate.choice("LINEAR", ["linear", "spherical"], "spherical") == "spherical"
    assert validate.choice(3, range(10), 0) == 3 and validate.choice(10, range(10), 0) == 0


def test_choice_returns_the_option_object():
    options = [[1, 2], [3]]
    assert validate.choice([3], options, None) is options[1]


def test_latent_accepts_exactly_dim_finite_numbers():
    assert validate.latent([1, 2.5], 2).tolist() == [1.0, 2.5]
    assert validate.latent((0, -1), 2).dtype == np.float64
    assert validate.latent(np.array([0.5, 1.0]), 2).tolist() == [0.5, 1.0]
    for bad in ([1.0], [1, 2, 3], ["a", 1], ["1", "2"], None, [float("nan"), 0], [float("inf"), 0],
                [True, 0], {"x": 1}, "12", [[1, 2]], [1, None], [10**400, 0]):
        assert validate.latent(bad, 2) is None, bad


def test_latent_clips_to_the_limit():
    assert validate.latent([9.0, -9.0, 1e300, 0.5], 4, limit=3.0).tolist() == [3.0, -3.0, 3.0, 0.5]


def test_plane_point_is_two_finite_numbers_inside_the_extent():
    assert validate.plane_point([0.5, -1.25]).tolist() == [0.5, -1.25]
    assert validate.plane_point([0.5, -1.25], [-4, 4, -4, 4]).tolist() == [0.5, -1.25]
    assert validate.plane_point([100.0, -1e300], [-4, 4, -3, 3]).tolist() == [4.0, -3.0]
    for bad in (["a", None], [1.0], [1, 2, 3], [float("nan"), 0], None, "0.5,1"):
        assert validate.plane_point(bad, [-4, 4, -4, 4]) is None


def test_model_param_must_name_a_catalog_model():
    names = ["mnist-2d", "mnist-20d"]
    assert validate.model_param("mnist-2d", names) == "mnist-2d"
    assert validate.model_param(["x", "mnist-20d"], names) == "mnist-20d"  # the last of repeated params
    for bad in ("mnist", "../models/mnist-2d", "/etc/passwd", "", None, 3, ["mnist-2d", "x"], "m" * 5000):
        assert validate.model_param(bad, names) is None


def test_job_param_is_twelve_lowercase_hex_characters():
    assert validate.job_param("0123456789ab") == "0123456789ab"
    for bad in ("0123456789AB", "0123456789a", "0123456789abc", "../../etc/pa", "0123456789ag", "",
                None, 12, "0123456789ab\n"):
        assert validate.job_param(bad) is None, bad


def test_plain_text_is_one_short_line():
    assert validate.plain_text("no 2d canvas") == "no 2d canvas"
    assert validate.plain_text("a\nb\r\n\tc\x00d\u2028e") == "a b c d e"
    assert len(validate.plain_text("x" * 10_000, 300)) == 300
    assert validate.plain_text(None) == validate.plain_text({"a": 1}) == validate.plain_text("  \n") == "unknown error"


def test_markdown_escape_leaves_nothing_for_markdown_to_render():
    hostile = "**bold** [link](http://x) <img src=x onerror=alert(1)> $x^2$ :red[red] `code` # h"
    escaped = validate.markdown_escape(hostile)
    unescaped = escaped.replace("\\", "")
    assert unescaped == hostile.replace("\\", "")
    for i, ch in enumerate(escaped):  # every punctuation character is preceded by a backslash
        if ch in "*[]()<>$:`#_!":
            assert escaped[i - 1] == "\\", (i, escaped)
    assert validate.markdown_escape("no 2d canvas") == "no 2d canvas"


def test_throttle_limits_per_key_and_in_total():
    log: dict = {}
    assert validate.throttle(log, "m1", 0.0, 30.0, 3)
    assert not validate.throttle(log, "m1", 29.9, 30.0, 3)  # too soon for this model
    assert validate.throttle(log, "m2", 29.9, 30.0, 3)  # another model is its own
    assert validate.throttle(log, "m1", 30.0, 30.0, 3)
    assert not validate.throttle(log, "m1", 1000.0, 30.0, 3)  # three in all: no more, ever
    assert not validate.throttle(log, "m3", 1000.0, 30.0, 3)
    assert log["total"] == 3

