"""Pages take input only through ui.inputs, whose wrappers re-check what the widget returns.

The scan is of the source (AST), so a new page or a new widget call is covered without a test
of its own. pages/train.py is wired separately (see ui/inputs.py) and is not scanned yet."""
import ast
from pathlib import Path

import pytest

from ui import inputs

ROOT = Path(__file__).resolve().parents[2]
WIDGETS = {"number_input", "slider", "selectbox", "radio", "select_slider"}
def _scanned() -> list[Path]:
    ui_files = [p for p in sorted((ROOT / "ui").glob("*.py")) if p.name != "inputs.py"]
    return [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *ui_files]


def direct_widget_calls(source: str) -> list[str]:
    """``line: receiver.widget`` for every call of an input widget not made through ``inputs``
    (``st.slider``, ``c1.selectbox``, ``st.sidebar.radio``...)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WIDGETS:
            receiver = node.func.value
            if not (isinstance(receiver, ast.Name) and receiver.id == "inputs"):
                found.append(f"{node.lineno}: {ast.unparse(node.func)}")
    return found


def test_the_scan_finds_direct_calls():
    src = ("import streamlit as st\nst.slider('a', 0, 1)\nc1.selectbox('b', [1])\nst.sidebar.radio('c', [1])\n"
           "inputs.number_input('d')\nst.select_slider('e', [1])\n")
    assert direct_widget_calls(src) == ["2: st.slider", "3: c1.selectbox", "4: st.sidebar.radio",
                                        "6: st.select_slider"]


@pytest.mark.parametrize("path", _scanned(), ids=lambda p: p.name)
def test_pages_use_the_checked_wrappers(path):
    calls = direct_widget_calls(path.read_text(encoding="utf-8"))
    assert not calls, f"{path.name} calls Streamlit input widgets directly (use ui.inputs): {calls}"


class FakeWidgets:
    """Stands in for a container whose widgets return ``value`` whatever the bounds (a tampered
    client on a Streamlit that does not check), recording the arguments."""

    def __init__(self, value):
        self.value, self.calls = value, []

    def _widget(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return self.value
        return call

    def __getattr__(self, name):
        return self._widget(name)


def test_number_input_is_clamped_and_typed():
    fake = FakeWidgets(3_000_000)
    assert inputs.number_input("Seed", min_value=0, max_value=99, step=1, key="k", where=fake) == 99
    assert fake.calls == [("number_input", ("Seed", 0, 99, "min", 1), {"key": "k"})]
    assert inputs.number_input("i", min_value=0, step=1, where=FakeWidgets(-7)) == 0
    assert inputs.number_input("i", min_value=0, step=1, where=FakeWidgets(10**9)) == 10**9
    assert inputs.number_input("x", 0.0, 1.0, 0.25, where=FakeWidgets(float("nan"))) == 0.25
    assert inputs.number_input("n", 0, 10, where=FakeWidgets("5")) == 0  # wrong type: the default (min)
    assert inputs.number_input("n", 0, 10, value=None, where=FakeWidgets(None)) is None


def test_slider_is_clamped():
    assert inputs.slider("Steps", 3, 16, 8, key="s", where=FakeWidgets(3_000_000)) == 16
    assert inputs.slider("T", 0.1, 2.0, 1.0, step=0.05, where=FakeWidgets(float("inf"))) == 1.0
    assert inputs.slider("z", -3.0, 3.0, step=0.05, where=FakeWidgets(-9.0)) == -3.0
    assert inputs.slider("z", -3.0, 3.0, step=0.05, where=FakeWidgets(None)) == -3.0  # Streamlit's default
    with pytest.raises(TypeError):
        inputs.slider("range", 0, 10, (2, 5), where=FakeWidgets((2, 5)))


def test_selectbox_radio_and_select_slider_keep_to_the_options():
    fmt = lambda s: f"{s} × {s}"  # noqa: E731
    fake = FakeWidgets("8")  # what Streamlit 1.67 hands back when a client sends the string "8"
    assert inputs.selectbox("Grid", (4, 6, 8, 10), index=1, format_func=fmt, key="g", where=fake) == 6
    assert fake.calls == [("selectbox", ("Grid", (4, 6, 8, 10), 1, fmt), {"key": "g"})]
    assert inputs.selectbox("Grid", (4, 6, 8, 10), where=FakeWidgets(10)) == 10
    assert inputs.radio("Src", ["a", "b"], horizontal=True, where=FakeWidgets("c")) == "a"
    assert inputs.radio("Src", ["a", "b"], where=FakeWidgets("b")) == "b"
    assert inputs.select_slider("q", ["lo", "hi"], value="hi", where=FakeWidgets("max")) == "hi"
    assert inputs.selectbox("Class", range(3), where=FakeWidgets(7)) == 0
    assert inputs.selectbox("none", ["a"], index=None, where=FakeWidgets(None)) is None
