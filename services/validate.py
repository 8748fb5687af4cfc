"""One place that re-checks every value from the browser before it reaches library code.

The server never trusts the browser: widget values (Streamlit checks some of them, depending on
its version), component values, query parameters and text a client reports. Each function here
takes what arrived and returns a value the caller can use as is, or a documented fallback
(the default, or None for "ignore it"). Pure functions, no Streamlit.
"""
from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
JOB_ID = re.compile(r"[0-9a-f]{12}")
MAX_PARAM_CHARS = 200  # longer query parameter values are not looked at
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MARKDOWN = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character (CommonMark escapes)


def _real(value: Any) -> float | None:
    """``value`` as a float when it is a real number (not a bool, not a string), else None."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, ValueError):  # an int too large for a float
        return None


def number(value: Any, lo: float | None = None, hi: float | None = None, default: float = 0,
           integer: bool = False) -> int | float:
    """``value`` clamped to [lo, hi] (either bound may be None), an int when ``integer``
    (truncated, as Streamlit makes an int number input's float); ``default`` when ``value`` is
    not a real number or not finite."""
    x = _real(value)
    if x is None or not math.isfinite(x):
        return default
    if lo is not None:
        x = max(x, float(lo))
    if hi is not None:
        x = min(x, float(hi))
    if not integer:
        return x
    whole = int(value) if isinstance(value, numbers.Integral) and x == float(value) else int(x)
    if lo is not None and whole < lo:
        whole = math.ceil(lo)
    if hi is not None and whole > hi:
        whole = math.floor(hi)
    return whole


def choice(value: Any, options: Iterable[T], default: T) -> T:
    """The option equal to ``value`` and of its exact type (so ``"8"`` is not ``8`` and
    ``True`` is not ``1``), else ``default``. Returns the option object itself."""
    for option in options:
        if type(option) is type(value):
            try:
                if option == value:
                    return option
            except Exception:  # noqa: BLE001 - an exotic __eq__ is a mismatch
                continue
    return default


def latent(value: Any, dim: int, limit: float | None = None) -> np.ndarray | None:
    """A (dim,) float64 array from what the browser sent (a list of exactly ``dim`` finite
    real numbers), clipped to [-limit, limit] when ``limit`` is given; None otherwise."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, list | tuple) or len(value) != dim:
        return None
    xs = [_real(v) for v in value]
    if any(x is None or not math.isfinite(x) for x in xs):
        return None
    z = np.asarray(xs, dtype=np.float64).reshape(dim)
    return z if limit is None else np.clip(z, -float(limit), float(limit))


def plane_point(value: Any, extent: Sequence[float] | None = None) -> np.ndarray | None:
    """A (2,) plane point (a, b) from two finite real numbers, clipped into ``extent``
    ([x0, x1, y0, y1]) when given; None when malformed."""
    point = latent(value, 2)
    if point is None or extent is None:
        return point
    x0, x1, y0, y1 = (float(v) for v in extent)
    return np.array([min(max(point[0], x0), x1), min(max(point[1], y0), y1)])


def _param(value: Any) -> str | None:
    """A query parameter's value as Streamlit gives it (the last one when repeated)."""
    if isinstance(value, list | tuple):
        value = value[-1] if value else None
    if not isinstance(value, str) or len(value) > MAX_PARAM_CHARS:
        return None
    return value


def model_param(value: Any, names: Iterable[str]) -> str | None:
    """``?model=NAME``: NAME when it is one of the catalog's ``names``, else None (ignore it)."""
    name = _param(value)
    return name if name is not None and name in set(names) else None


def job_param(value: Any) -> str | None:
    """``?job=ID``: ID when it is 12 lowercase hex characters (a job id), else None."""
    job = _param(value)
    return job if job is not None and JOB_ID.fullmatch(job) else None


def plain_text(value: Any, limit: int = 300, fallback: str = "unknown error") -> str:
    """A one-line text from the browser: control characters and line breaks become spaces,
    runs of spaces one, at most ``limit`` characters; ``fallback`` when it is not a string or
    nothing is left."""
    if not isinstance(value, str):
        return fallback
    text = " ".join(_CONTROL.sub(" ", value[: limit * 4]).split())[:limit].strip()
    return text or fallback


def markdown_escape(text: str) -> str:
    """``text`` with every ASCII punctuation character backslash-escaped, so a Markdown
    renderer shows it literally (no links, emphasis, HTML, LaTeX or colour directives)."""
    return _MARKDOWN.sub(r"\\\1", text)


def throttle(log: dict[str, Any], key: str, now: float, every_s: float, max_total: int) -> bool:
    """May an action for ``key`` run at time ``now`` (seconds, any monotonic clock)? At most
    once per ``every_s`` per key and ``max_total`` times in all; ``log`` (a dict the caller
    keeps, e.g. in the session) records the actions allowed."""
    last = log.setdefault("last", {})
    if log.get("total", 0) >= max_total:
        return False
    if key in last and now - last[key] < every_s:
        return False
    last[key] = now
    log["total"] = log.get("total", 0) + 1
    return True


def unit_fraction(value: Any) -> float | None:
    """A fraction t in [0, 1] from the browser (a morph's t): the float when ``value`` is a finite
    real number in that range, else None (rejected: NaN, infinities, text, bools, out of range)."""
    x = _real(value)
    if x is None or not math.isfinite(x) or not 0.0 <= x <= 1.0:
        return None
    return x
