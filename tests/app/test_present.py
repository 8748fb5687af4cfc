"""AppTest: presenter mode (ui/present.py), per session, from ``?present=1`` or the sidebar toggle.

AppTest runs app.py (the sidebar, presenter mode's styles and exit button) on a session's first
run, and on the run after one interaction; later runs of the same AppTest run the page alone.
So each test makes at most one interaction, on a fresh session.
"""
import pytest
from app_helpers import APP, TIMEOUT, open_app
from streamlit.testing.v1 import AppTest

from ui import present


def _with_param(value: str, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["model"] = "mnist-2d"
    at.query_params["present"] = value
    at.run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _html(at: AppTest) -> list[str]:
    return [el.proto.body for el in at.get("html")]


def _presenting(at: AppTest) -> bool:
    """Does the page carry presenter mode's stylesheet (and only then its exit button)?"""
    styled = present.PRESENT_CSS in _html(at)
    assert styled == any(b.key == present.EXIT_KEY for b in at.button)
    return styled


def _legend(at: AppTest) -> str:
    return " ".join(h for h in _html(at) if "vae-present-legend" in h)


def test_the_url_flag_turns_presenter_mode_on_with_styles_keys_and_a_way_out():
    at = _with_param("1")
    assert at.session_state[present.STATE_KEY] is True
    assert _presenting(at)
    css = present.PRESENT_CSS
    assert '[data-testid="stSidebar"]' in css and '[data-testid="stToolbarActions"]' in css  # hidden
    assert "http" not in css and "@import" not in css and "url(" not in css  # no external resources
    assert at.toggle(key=present.TOGGLE_KEY).value is True
    assert "random z" in _legend(at) and "<kbd>r</kbd>" in _legend(at) and "Esc" in _legend(at)
    assert at.query_params.get("present") == "1"  # kept in the URL: a reload stays in presenter mode


def test_a_session_without_the_flag_looks_as_before():
    at = open_app()
    assert not at.session_state[present.TOGGLE_KEY]
    assert not _presenting(at)
    assert _legend(at) == ""
    assert present.PHONE_CSS in _html(at)  # the phone layout is for everyone
    assert "present" not in at.query_params
    assert not at.error


@pytest.mark.parametrize("value", ["yes", "2", "<b>1</b>"])
def test_a_flag_that_is_not_understood_says_so_and_stays_off(value):
    at = _with_param(value)
    assert not _presenting(at)
    assert any("present value is not understood" in e.value for e in at.error)


def test_present_0_is_off_quietly():
    at = _with_param("0")
    assert not _presenting(at) and not at.error


def test_the_sidebar_toggle_turns_it_on_and_into_the_url():
    at = open_app()
    at.toggle(key=present.TOGGLE_KEY).set_value(True).run()
    assert not at.exception
    assert _presenting(at)
    assert at.query_params.get("present") == "1"


def test_the_exit_button_turns_it_off_and_out_of_the_url():
    at = _with_param("1")
    at.button(key=present.EXIT_KEY).click().run()
    assert not at.exception
    assert not _presenting(at)
    assert at.session_state[present.STATE_KEY] is False
    assert "present" not in at.query_params


def test_generate_gets_the_next_seed_key():
    at = _with_param("1", "pages/generate.py")
    assert _presenting(at)
    assert "<kbd>n</kbd> next seed" in _legend(at)
    assert any(b.key == "generate_next" for b in at.button)  # what the "n" key clicks


def test_morph_steps_t_to_the_next_point_of_the_strip():
    at = _with_param("1", "pages/morph.py")
    assert "next step" in _legend(at) and "→" in _legend(at)
    assert at.session_state["morph_t"] == pytest.approx(0.5)
    at.button(key="morph_t_next").click().run()  # what → clicks
    assert not at.exception
    steps = at.slider(key="morph_steps").value  # N points from t = 0 to 1: a step of 1 / (N - 1)
    assert at.session_state["morph_t"] == pytest.approx((round(0.5 * (steps - 1)) + 1) / (steps - 1))


def test_the_step_count_from_the_session_is_rechecked(monkeypatch):
    state = {"t": 0.5}
    monkeypatch.setattr(present.st, "session_state", state)
    present._step("t", 0.0, 1.0, 10**9, 1)  # a tampered count: at most 101 points
    assert state["t"] == pytest.approx(0.51)
    present._step("t", 0.0, 1.0, "many", -1)  # not a number: 11 points
    assert state["t"] == pytest.approx(0.4)
    state["t"] = float("nan")  # a bad value starts from the low end
    present._step("t", 0.0, 1.0, 5, -1)
    assert state["t"] == 0.0
