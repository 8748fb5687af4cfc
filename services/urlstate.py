"""Every view is a link: each page's state as URL query parameters, and back (no Streamlit).

One schema per page names its parameters, their types and ranges. :func:`encode` turns a page's
state into ``{param: text}``; :func:`decode` turns what a URL carried (untrusted: any text, any
length, repeated keys) back into a state, re-checking every value. A bad value (not a number,
NaN or infinite, out of range, too long, too many ids, the wrong number of latent values for
this model) is dropped with a short message naming the parameter, never echoing it; the rest of
the link still applies. Numbers are written in their shortest exact form (``repr``), so the
receiving page decodes the very same floats and draws the same pixels. Uploaded images and
drawings never travel: an end that was one is written as the word ``upload`` or ``drawing``.

State values: ``z`` a list of D floats (Decode), ``sel`` a list of test-image ids, ``pin`` a list
[x, y] (plane coordinates), ``a``/``b``/``img`` a test-image id or ``"upload"``/``"drawing"``,
``c`` a class index (or ``"all"`` on Generate), other numbers plain int/float, ``method`` a name.
"""
from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

SEED_MAX = 2**31 - 1
MAX_ID = 10**7  # test-image ids are positions in the official test sets (MNIST: 0..9999)
MAX_SELECTED = 200  # ids a Latent map link carries
Z_LIMIT = 10.0  # |z_i| in a Decode link: the sliders span ±3; hidden dims may hold an encoded image's value
PLANE_LIMIT = 1e3  # |x|, |y| of a pinned point (the page clips it into the pad)
MAX_CHARS = 64  # one scalar value
ITEM_CHARS = 26  # one number of a list (repr of a float64 is at most 24)
NOT_IN_LINK = ("upload", "drawing")  # what an image end that cannot travel is written as
GRID_SIZES = (4, 6, 8, 10)
METHODS = ("linear", "spherical")
_INT = re.compile(r"[+-]?[0-9]{1,12}", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)


@dataclass(frozen=True)
class Context:
    """What a link is checked against: the model's latent size and classes (0: unconditional),
    and the test-image ids this server has (None: any id up to MAX_ID)."""

    latent_dim: int = 2
    num_classes: int = 0
    test_ids: Collection[int] | None = None


@dataclass(frozen=True)
class Field:
    """One query parameter: ``kind`` is int, float, choice, floats (a list), ids (a list) or
    image (a test-image id or an end that cannot travel); ``lo``/``hi`` bound numbers,
    ``options`` a choice, ``length`` a list (``"D"``: the model's latent size; ``"K"``: a class
    index below the model's class count), ``size`` the most ids."""

    name: str
    kind: str
    lo: float = 0
    hi: float = 0
    options: tuple = ()
    length: int | str = 0
    size: int = 0
    meaning: str = ""


_CLASS = Field("c", "class", meaning="the class a conditional model draws")
SCHEMAS: dict[str, tuple[Field, ...]] = {
    "decode": (Field("z", "floats", -Z_LIMIT, Z_LIMIT, length="D", meaning="the latent point, one value per dim"),
               _CLASS),
    "generate": (Field("seed", "int", 0, SEED_MAX, meaning="the seed of the draws"),
                 Field("temp", "float", 0.1, 2.0, meaning="the temperature"),
                 Field("n", "choice", options=GRID_SIZES, meaning="the grid size"),
                 Field("c", "class", options=("all",), meaning="the class drawn, or every class")),
    "morph": (Field("a", "image", meaning="the start image"), Field("b", "image", meaning="the end image"),
              Field("method", "choice", options=METHODS, meaning="the interpolation"),
              Field("t", "float", 0.0, 1.0, meaning="the point on the path"),
              Field("n", "int", 3, 16, meaning="the steps in the strip"), _CLASS),
    "latent_map": (Field("sel", "ids", size=MAX_SELECTED, meaning="the selected test images"),
                   Field("pin", "floats", -PLANE_LIMIT, PLANE_LIMIT, length=2, meaning="the pinned point"),
                   _CLASS),
    "reconstruct": (Field("img", "image", meaning="the test image"),
                    Field("seed", "int", 0, SEED_MAX, meaning="the seed of the posterior samples behind −ELBO")),
}
PAGES = tuple(SCHEMAS)
ALL_PARAMS = frozenset(f.name for fields in SCHEMAS.values() for f in fields)


def params(page: str) -> tuple[str, ...]:
    """The query parameters ``page`` owns (none for a page without a schema)."""
    return tuple(f.name for f in SCHEMAS.get(page, ()))


def _num(value: float) -> str:
    """The shortest text that parses back to exactly ``value`` (``repr``), without a trailing .0."""
    v = float(value)
    if v == 0:
        return "0"
    text = repr(v)
    return text[:-2] if text.endswith(".0") else text


def _text(field: Field, value: Any) -> str:
    if field.kind in ("floats",):
        return ",".join(_num(v) for v in value)
    if field.kind == "ids":
        return ",".join(str(int(v)) for v in value[:field.size])
    if field.kind == "float":
        return _num(value)
    if isinstance(value, str):
        return value
    return str(int(value))


def encode(page: str, state: Mapping[str, Any]) -> dict[str, str]:
    """``page``'s ``state`` as query parameters (only the schema's; None values and empty lists are
    left out; a selection longer than the schema allows keeps its first ids)."""
    out: dict[str, str] = {}
    for field in SCHEMAS.get(page, ()):
        value = state.get(field.name)
        if value is None or (isinstance(value, list | tuple) and not len(value)):
            continue
        try:
            out[field.name] = _text(field, state[field.name])
        except (TypeError, ValueError, OverflowError):  # not this field's type: left out of the link
            continue
    return out


def _last(value: Any) -> str | None:
    """One parameter's text: the last of repeated values (as Streamlit gives them)."""
    if isinstance(value, list | tuple):
        value = value[-1] if value else None
    return value if isinstance(value, str) else None


def _int(text: str, lo: float, hi: float) -> int | None:
    if not _INT.fullmatch(text):
        return None
    v = int(text)
    return v if lo <= v <= hi else None


def _float(text: str, lo: float, hi: float) -> float | None:
    if not _FLOAT.fullmatch(text):
        return None
    v = float(text)
    return v if math.isfinite(v) and lo <= v <= hi else None


def _floats(field: Field, text: str, ctx: Context) -> tuple[list[float] | None, str]:
    n = ctx.latent_dim if field.length == "D" else int(field.length)
    if len(text) > n * ITEM_CHARS:
        return None, f"too long for {n} numbers"
    parts = text.split(",")
    if len(parts) != n:
        return None, f"needs {n} numbers, one per latent dimension of this model" if field.length == "D" \
            else f"needs {n} numbers"
    values = [_float(p.strip(), field.lo, field.hi) for p in parts]
    if any(v is None for v in values):
        return None, f"needs finite numbers from {_num(field.lo)} to {_num(field.hi)}"
    return values, ""


def _id(text: str, ctx: Context) -> int | None:
    i = _int(text.strip(), 0, MAX_ID)
    return i if i is not None and (ctx.test_ids is None or i in ctx.test_ids) else None


def _ids(field: Field, text: str, ctx: Context) -> tuple[list[int] | None, str]:
    if len(text) > field.size * 9:
        return None, f"too long: at most {field.size} test-image ids"
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) > field.size:
        return None, f"too many ids: at most {field.size}"
    ids = [_id(p, ctx) for p in parts]
    if any(i is None for i in ids):
        return None, "needs ids of test images this server has"
    return list(dict.fromkeys(ids)), ""


def _value(field: Field, text: str, ctx: Context) -> tuple[Any, str]:
    """(value, "") when ``text`` is valid for ``field`` under ``ctx``, else (None, why)."""
    if field.kind == "floats":
        return _floats(field, text, ctx)
    if field.kind == "ids":
        return _ids(field, text, ctx)
    if len(text) > MAX_CHARS:
        return None, "too long"
    if field.kind == "int":
        v = _int(text, field.lo, field.hi)
        return (v, "") if v is not None else (None, f"needs a whole number from {field.lo} to {field.hi}")
    if field.kind == "float":
        v = _float(text, field.lo, field.hi)
        return (v, "") if v is not None else (None, f"needs a number from {_num(field.lo)} to {_num(field.hi)}")
    if field.kind == "choice":
        v = next((o for o in field.options if str(o) == text), None)
        return (v, "") if v is not None else (None, "needs one of " + ", ".join(str(o) for o in field.options))
    if field.kind == "image":
        if text in NOT_IN_LINK:
            return text, ""
        v = _id(text, ctx)
        return (v, "") if v is not None else (None, "needs the id of a test image this server has")
    return _class(field, text, ctx)


def _class(field: Field, text: str, ctx: Context) -> tuple[Any, str]:
    if not ctx.num_classes:
        return None, "this model is not conditional: it draws no class"
    if text in field.options:
        return text, ""
    v = _int(text, 0, ctx.num_classes - 1)
    return (v, "") if v is not None else (None, f"needs a class from 0 to {ctx.num_classes - 1}")


def decode(page: str, query: Mapping[str, Any], ctx: Context) -> tuple[dict[str, Any], list[str]]:
    """``page``'s state from a URL's ``query`` ({name: text or list of texts}; other names are
    ignored), each value re-checked against the schema and ``ctx``. Returns (state of the valid
    values, one short message per dropped value)."""
    state: dict[str, Any] = {}
    problems: list[str] = []
    for field in SCHEMAS.get(page, ()):
        if field.name not in query:
            continue
        text = _last(query[field.name])
        value, why = (None, "not text") if text is None else _value(field, text, ctx)
        if value is None:
            problems.append(f"“{field.name}” ({field.meaning}): {why}; ignored.")
        else:
            state[field.name] = value
    return state, problems
