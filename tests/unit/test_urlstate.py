"""services/urlstate.py: each page's state as query parameters and back, every value re-checked."""
import math

import numpy as np
import pytest

from services import urlstate
from services.urlstate import Context

CTX = Context(latent_dim=3, num_classes=0, test_ids=np.array([0, 1, 2, 7, 42, 9999]))
COND = Context(latent_dim=2, num_classes=10, test_ids=np.array([0, 1, 2, 7, 42, 9999]))

STATES = {
    "decode": (CTX, {"z": [0.35000000000000003, -1.5, 0.1234567890123]}),
    "generate": (CTX, {"seed": 2**31 - 1, "temp": 1.35, "n": 6}),
    "morph": (CTX, {"a": 7, "b": "upload", "method": "spherical", "t": 0.73, "n": 12}),
    "latent_map": (CTX, {"sel": [42, 0, 9999], "pin": [-1.25, 3.0000000000000004]}),
    "reconstruct": (CTX, {"img": 9999, "seed": 3}),
}


@pytest.mark.parametrize("page", urlstate.PAGES)
def test_round_trip_of_every_page(page):
    ctx, state = STATES[page]
    params = urlstate.encode(page, state)
    assert set(params) == set(state) and all(isinstance(v, str) for v in params.values())
    back, problems = urlstate.decode(page, params, ctx)
    assert problems == []
    assert back == state  # floats exactly: the same z, t, T draw the same pixels


def test_round_trip_of_a_conditional_model_class_and_every_class():
    for page, state in [("decode", {"z": [0.5, -0.25], "c": 3}), ("generate", {"seed": 1, "c": "all"}),
                        ("morph", {"a": 1, "b": "drawing", "c": 9}), ("latent_map", {"sel": [1], "c": 0})]:
        back, problems = urlstate.decode(page, urlstate.encode(page, state), COND)
        assert (back, problems) == (state, []), page


def test_random_floats_round_trip_exactly():
    gen = np.random.default_rng(0)
    z = (gen.standard_normal(64) * 3).tolist() + np.float32(gen.standard_normal(64)).astype(float).tolist()
    ctx = Context(latent_dim=128)
    back, problems = urlstate.decode("decode", urlstate.encode("decode", {"z": z}), ctx)
    assert problems == [] and back["z"] == z


def test_numbers_are_written_short():
    assert urlstate.encode("decode", {"z": [0.0, -0.0, 1.0, 0.5, -2.95]}) == {"z": "0,0,1,0.5,-2.95"}
    assert urlstate.encode("generate", {"seed": 7, "temp": 1.0, "n": 8}) == {"seed": "7", "temp": "1", "n": "8"}


def test_encode_leaves_out_none_and_values_of_the_wrong_type():
    assert urlstate.encode("generate", {"seed": None, "temp": "warm", "n": 8}) == {"n": "8"}
    assert urlstate.encode("nowhere", {"seed": 1}) == {}


def test_an_empty_selection_is_left_out():
    assert urlstate.encode("latent_map", {"sel": [], "pin": [0.5, 1]}) == {"pin": "0.5,1"}


def test_a_long_selection_keeps_its_first_ids():
    params = urlstate.encode("latent_map", {"sel": list(range(500))})
    assert params["sel"].split(",") == [str(i) for i in range(urlstate.MAX_SELECTED)]


def test_other_parameters_and_other_pages_parameters_are_ignored():
    state, problems = urlstate.decode("generate", {"z": "1,2,3", "job": "abc", "seed": "4"}, CTX)
    assert (state, problems) == ({"seed": 4}, [])


def _one(page, name, text, ctx=CTX):
    """Decode one tampered parameter next to a good one: the bad one is dropped with a message
    naming it, the good one still applies."""
    good = {"decode": ("z", "1,2,3"), "generate": ("temp", "1.5") if name == "seed" else ("seed", "5"),
            "morph": ("method", "linear") if name == "t" else ("t", "0.5"), "latent_map": ("sel", "7"),
            "reconstruct": ("seed", "5")}[page]
    state, problems = urlstate.decode(page, {name: text, good[0]: good[1]}, ctx)
    assert good[0] in state, "the rest of the link must still apply"
    return state.get(name), problems


@pytest.mark.parametrize("page,name,text", [
    ("generate", "seed", "-1"), ("generate", "seed", "2147483648"), ("generate", "seed", "1e3"),
    ("generate", "seed", "five"), ("generate", "seed", "١٢"), ("generate", "seed", "9" * 10**6),
    ("generate", "temp", "nan"), ("generate", "temp", "inf"), ("generate", "temp", "-inf"),
    ("generate", "temp", "1e309"), ("generate", "temp", "0"), ("generate", "temp", "2.5"), ("generate", "temp", "1_0"),
    ("generate", "temp", "0x1p0"), ("generate", "temp", ""), ("generate", "n", "7"), ("generate", "n", "8.0"),
    ("generate", "c", "3"),  # an unconditional model draws no class
    ("decode", "c", "0"),
    ("morph", "a", "10000"), ("morph", "a", "3"), ("morph", "a", "-1"), ("morph", "b", "https://example.com/x.png"),
    ("morph", "method", "cubic"), ("morph", "method", "linear" * 20), ("morph", "t", "1.01"), ("morph", "t", "NaN"),
    ("morph", "n", "2"), ("morph", "n", "17"),
    ("latent_map", "pin", "1"), ("latent_map", "pin", "1,2,3"), ("latent_map", "pin", "1,nan"),
    ("latent_map", "pin", "1e4,0"), ("latent_map", "c", "0"),
    ("reconstruct", "img", "1.5"), ("reconstruct", "img", "<script>"), ("reconstruct", "img", "  "),
])
def test_tampered_values_are_dropped_with_a_message(page, name, text):
    value, problems = _one(page, name, text)
    assert value is None
    assert len(problems) == 1 and problems[0].startswith(f"“{name}”")
    assert len(text.strip()) <= 3 or text not in problems[0], "messages never echo what the URL carried"
    assert len(problems[0]) < 200


@pytest.mark.parametrize("text", [
    "1,2", "1,2,3,4", "1,2,x", "1,2,nan", "1,2,inf", "1,2,11", "1,,3", "", "1;2;3", "１,２,３",
    ",".join(["0.5"] * 10**6), "1" * 10**6,
])
def test_tampered_latent_vectors_are_dropped(text):
    state, problems = urlstate.decode("decode", {"z": text}, CTX)
    assert state == {} and len(problems) == 1 and problems[0].startswith("“z”")


def test_a_z_of_another_models_size_says_so():
    _, problems = urlstate.decode("decode", {"z": "0.1,0.2"}, CTX)
    assert "needs 3 numbers, one per latent dimension" in problems[0]


@pytest.mark.parametrize("text", [
    ",".join(str(i % 6) for i in range(201)),  # too many
    ",".join(["1"] * 10**6),  # far too long
    "1,2,12345",  # an id this server does not have
    "1,-2", "1,2.0", "a,b",
])
def test_tampered_selections_are_dropped(text):
    state, problems = urlstate.decode("latent_map", {"sel": text, "pin": "0.5,-0.5"}, CTX)
    assert state == {"pin": [0.5, -0.5]} and len(problems) == 1 and problems[0].startswith("“sel”")


def test_selections_drop_repeats_and_allow_empty():
    assert urlstate.decode("latent_map", {"sel": "7,7,1, 2"}, CTX)[0] == {"sel": [7, 1, 2]}
    assert urlstate.decode("latent_map", {"sel": ""}, CTX)[0] == {"sel": []}


def test_repeated_and_non_text_values():
    assert urlstate.decode("generate", {"seed": ["1", "2"]}, CTX)[0] == {"seed": 2}  # the last, as Streamlit
    state, problems = urlstate.decode("generate", {"seed": [], "n": 6}, CTX)
    assert state == {} and len(problems) == 2


def test_ids_are_checked_against_the_test_set_only_when_given():
    assert urlstate.decode("reconstruct", {"img": "123456"}, Context())[0] == {"img": 123456}
    assert urlstate.decode("reconstruct", {"img": str(urlstate.MAX_ID + 1)}, Context())[0] == {}


def test_every_page_schema_is_sane():
    for page in urlstate.PAGES:
        names = urlstate.params(page)
        assert len(names) == len(set(names)) and "model" not in names
    assert urlstate.params("train") == ()
    assert not math.isnan(urlstate.Z_LIMIT)
