"""The input widgets the pages use, each re-checking its value on the server.

Each wrapper calls the Streamlit widget with the same arguments (so keys, labels, defaults and
widget ids are unchanged) and returns the value re-checked by :mod:`services.validate` against
the widget's own bounds or options. Streamlit 1.67 already resets most out-of-range numbers
and unknown options a browser sends, but not all (a selectbox takes any string whose
``format_func`` label is an option's, e.g. ``"8"`` for ``8``), older releases did not, and
nothing stops a tampered client from trying: the library never sees a value outside the widget.

``where`` is the container to draw in (a column, ``st.sidebar``); None draws in ``st``. Pages
call these instead of ``st.number_input`` and friends (tests/unit/test_inputs_used.py checks).
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from services import validate


def _dg(where: Any) -> Any:
    return st if where is None else where


def _integer(*values: Any) -> bool:
    """Whether Streamlit makes the widget an int one: every given number is an int."""
    given = [v for v in values if v is not None]
    return bool(given) and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in given)


def _options(options: Any) -> Sequence[Any]:
    return options if isinstance(options, Sequence) else list(options)


def number_input(label: str, min_value: Any = None, max_value: Any = None, value: Any = "min", step: Any = None, *,
                 where: Any = None, **kwargs: Any) -> Any:
    """``st.number_input``; the value clamped to [min_value, max_value] (a missing bound is not
    checked), the default when it is not a finite number."""
    out = _dg(where).number_input(label, min_value, max_value, value, step, **kwargs)
    if out is None and value is None:  # an empty widget that may be empty
        return None
    explicit = None if isinstance(value, str) else value
    default = explicit if explicit is not None else (min_value if min_value is not None else 0)
    return validate.number(out, min_value, max_value, default, _integer(min_value, max_value, explicit, step))


def slider(label: str, min_value: Any = None, max_value: Any = None, value: Any = None, step: Any = None, *,
           where: Any = None, **kwargs: Any) -> Any:
    """``st.slider`` with one thumb (a number); the value clamped to [min_value, max_value]."""
    if isinstance(value, list | tuple):
        raise TypeError("ui.inputs.slider wraps single-value sliders only")
    out = _dg(where).slider(label, min_value, max_value, value, step, **kwargs)
    default = value if value is not None else min_value
    return validate.number(out, min_value, max_value, default, _integer(min_value, max_value, value, step))


def selectbox(label: str, options: Any, index: int | None = 0, format_func: Callable[[Any], str] = str, *,
              where: Any = None, **kwargs: Any) -> Any:
    """``st.selectbox``; the value is one of ``options`` (the one at ``index`` when it was not)."""
    opts = _options(options)
    out = _dg(where).selectbox(label, opts, index, format_func, **kwargs)
    return validate.choice(out, opts, opts[index] if index is not None and len(opts) else None)


def radio(label: str, options: Any, index: int | None = 0, format_func: Callable[[Any], str] = str, *,
          where: Any = None, **kwargs: Any) -> Any:
    """``st.radio``; the value is one of ``options`` (the one at ``index`` when it was not)."""
    opts = _options(options)
    out = _dg(where).radio(label, opts, index, format_func, **kwargs)
    return validate.choice(out, opts, opts[index] if index is not None and len(opts) else None)


def select_slider(label: str, options: Any = (), value: Any = None, format_func: Callable[[Any], str] = str, *,
                  where: Any = None, **kwargs: Any) -> Any:
    """``st.select_slider`` with one thumb; the value is one of ``options`` (``value``, else the
    first option, when it was not)."""
    if isinstance(value, list | tuple):
        raise TypeError("ui.inputs.select_slider wraps single-value select sliders only")
    opts = _options(options)
    out = _dg(where).select_slider(label, opts, value, format_func, **kwargs)
    return validate.choice(out, opts, value if value is not None else (opts[0] if len(opts) else None))


def class_picker(label: str, classes: Sequence[str], *, key: str, default: int = 0,
                 extra: dict[Any, str] | None = None, where: Any = None, **kwargs: Any) -> Any:
    """The class a conditional model draws, as ``st.pills`` over ``classes`` (their names, e.g.
    "0".."9"), plus the ``extra`` options ({value: label}, e.g. every class at once). Returns the
    class index (or an ``extra`` value). Nothing chosen (which the widget's own UI cannot send:
    a tampered browser) falls back to the last valid choice, else ``default``, with an error
    saying so; a value kept from a model with other classes is dropped quietly."""
    labels: dict[Any, str] = {**dict(enumerate(str(c) for c in classes)), **(extra or {})}
    opts = list(labels)
    held = st.session_state.get(key)
    if held is not None and validate.choice(held, opts, None) is None:
        del st.session_state[key]  # another model's class (a stale value), not this one's
    dg = _dg(where)
    kwargs.setdefault("wrap", True)  # ten digits fit on two rows in a narrow column
    out = dg.pills(label, opts, selection_mode="single", default=None if key in st.session_state else opts[default],
                   required=True, format_func=lambda o: labels[o] if validate.choice(o, opts, None) is not None
                   else "?", key=key, **kwargs)
    value = validate.choice(out, opts, None)
    valid = f"_{key}_valid"
    if value is None:
        value = validate.choice(st.session_state.get(valid), opts, opts[default])
        dg.error(f"No class chosen, or one this model does not know: drawing “{labels[value]}”.")
    st.session_state[valid] = value
    return value


def multiselect(label: str, options: Any, default: Any = None, format_func: Callable[[Any], str] = str, *,
                where: Any = None, max_selections: int | None = None, **kwargs: Any) -> list[Any]:
    """``st.multiselect``; the value is a list of distinct ``options`` in the order chosen
    (anything else a browser sends is dropped), at most ``max_selections`` long."""
    opts = _options(options)
    out = _dg(where).multiselect(label, opts, default, format_func, max_selections=max_selections, **kwargs)
    chosen: list[Any] = []
    missing = object()
    for value in out if isinstance(out, list | tuple) else []:
        option = validate.choice(value, opts, missing)
        if option is not missing and option not in chosen:
            chosen.append(option)
    return chosen[:max_selections] if max_selections is not None else chosen
