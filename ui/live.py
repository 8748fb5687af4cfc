"""Live decoding in the browser, so a decoded image can follow a drag (st.components.v2).

Since Streamlit 1.49 a slider sends its value only when the thumb is released, so an image
decoded in Python cannot follow a drag. Here the decoder runs in the browser: its weights are
exported once per model version (:func:`services.export.export_decoder`: a layer spec and a
float16 or float32 buffer) and ``ui/live_assets/decoder.js`` runs the forward pass on every input
event. One component (``ui/live_assets/``: decoder.js, path.js, live.js, pad.js, path_view.js,
mount.js and live.css, no build step) comes in four kinds:

- :func:`view`: a canvas showing the decoded image of a channel's latent vector z;
- :func:`sliders`: one range input per latent dim editing that z; the canvas redraws on every
  ``input`` event and the value reaches Python only on release, through ``on_release``;
- :func:`pad`: a 2-D latent plane over the encoded points; dragging decodes under the cursor,
  a click pins the point, through ``on_pin``; optionally with the path between two codes
  (:func:`path_overlay`) and a marker at the t of a path slider;
- :func:`path`: Morph's t slider over the path between two codes, z_t computed (lerp or slerp,
  as :func:`vae.explore.interpolate_at`) and decoded in the browser on every ``input`` event; t
  reaches Python only on release, through ``on_release``.

How the static parts travel depends on the server. Under ``streamlit run serve.py`` (the asset
routes are mounted, :func:`services.assets.mounted`) they go over plain HTTP, cacheable for a
year by content-hashed URL: the component's code (the joined JS, published at import) is
imported by a tiny inline loader (``loader.js``), and the component data carries only the
weights' URL (published once per model version), which the browser fetches. Otherwise (a plain
``streamlit run app.py``, Streamlit's AppTest) the code is inlined into the component and the
weights travel in its data as base64, through the websocket.

The browser keeps decoders by model id for the life of the page, so the weights (or their URL)
are sent the first time a session needs a model, and again only when the browser asks (a
"need" trigger, e.g. after the component's code changed). Python-side changes of z (Reset,
Random, Encode) bump a revision number; the browser takes the server's z only when that number
changes, so a rerun never undoes a drag in progress.

Nothing the browser sends is trusted: a "need" resends only the component's own model, at most
once per model per ``NEED_EVERY_S`` and ``NEED_MAX`` times per session (inline, the weights are
megabytes); a "failed" message (the browser could not run the decoder, or download its weights
or code: the page then decodes on the server) is cut to ``FAILED_CHARS`` one-line characters
and escaped, so it shows as plain text; z vectors and pins go to the page's callbacks, which
check them with :mod:`services.validate`.
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from services import assets, export, validate

from . import state

LIVE_DIR = Path(__file__).with_name("live_assets")
SENT_KEY = "_live_sent"  # model ids whose weights this session has put into component data
FAILED_KEY = "_live_failed"  # model id -> the error the browser reported for it (plain one-line text)
NEED_KEY = "_live_need"  # the throttle log of "need" requests (services.validate.throttle)
NEED_EVERY_S = 30.0  # a model's weights are resent at most once per this many seconds...
NEED_MAX = 10  # ...and at most this many times per session
FAILED_CHARS = 300
WEIGHTS_SUFFIX = ".bin"


def _source(name: str) -> str:
    return (LIVE_DIR / name).read_text(encoding="utf-8")


JS_FILES = ("decoder.js", "path.js", "live.js", "pad.js", "path_view.js", "mount.js")  # one ES module, in this order
MODULE_JS = "\n".join(_source(name) for name in JS_FILES)
MODULE_NAME = assets.publish(MODULE_JS.encode("utf-8"), ".js", assets.JS_TYPE, pinned=True)
LOADER_JS = _source("loader.js").replace("__VAE_MODULE_URL__", json.dumps(assets.url(MODULE_NAME)))
_INLINE = st.components.v2.component("vae_live", js=MODULE_JS, css=_source("live.css"))
_LOADER = st.components.v2.component("vae_live_loader", js=LOADER_JS, css=_source("live.css"))


def _component(**kwargs: Any) -> Any:
    """Mount the live component: its code imported over HTTP when the asset routes are mounted
    (serve.py), else inlined."""
    return (_LOADER if assets.mounted() else _INLINE)(**kwargs)


@dataclass(frozen=True)
class LiveDecoder:
    """Whether the current model's decoder can run in the browser: ``model_id`` (a content
    hash) when it can, else ``reason``, a phrase for the user."""

    path: str
    mtime: float
    model_id: str | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.model_id is not None


@st.cache_resource(show_spinner=False, max_entries=8)
def exported(path: str, mtime: float, max_params: int) -> dict[str, Any]:
    """The decoder of the model at ``path`` for the browser, ``{"id", "spec", "weights", "blob"}``
    (weights: the little-endian bytes of ``spec["dtype"]``; blob: the name they are published
    under, see :func:`_weights_url`), or ``{"reason": ...}`` when it cannot run there. Computed
    once per model version (``mtime``) and size limit; shared read-only."""
    try:
        exp = export.export_decoder(state.load_checkpoint(path, mtime).model, max_params)
    except export.UnsupportedDecoder as exc:
        return {"reason": str(exc)}
    return {"id": exp.model_id, "spec": exp.spec, "weights": exp.weights,
            "blob": assets.name_for(exp.weights, WEIGHTS_SUFFIX)}


def _weights_url(out: dict[str, Any]) -> str:
    """The URL of an export's weights, published again if the registry dropped them."""
    if not assets.has(out["blob"]):
        assets.publish(out["weights"], WEIGHTS_SUFFIX, assets.BINARY_TYPE)
    return assets.url(out["blob"])


def warm(path: str, mtime: float) -> None:
    """Export the decoder of this model version ahead of a first visit (:mod:`ui.warm`), and
    publish its weights when the asset routes are mounted."""
    out = exported(path, mtime, export.MAX_PARAMS)
    if "reason" not in out and assets.mounted():
        _weights_url(out)


def live_decoder(cur: state.Current) -> LiveDecoder:
    """Can the browser decode for the session's model? (Not when the exporter refuses it, or
    when the browser reported an error for it in this session.) ``reason`` is Markdown-safe:
    the browser's own message in it is escaped."""
    path, mtime = cur.key
    out = exported(path, mtime, export.MAX_PARAMS)
    if "reason" in out:
        return LiveDecoder(path, mtime, None, out["reason"])
    failed = st.session_state.get(FAILED_KEY, {}).get(out["id"])
    if failed:
        return LiveDecoder(path, mtime, None, f"your browser could not run it ({validate.markdown_escape(failed)})")
    return LiveDecoder(path, mtime, out["id"], None)


def _decoder_field(live: LiveDecoder) -> dict[str, Any] | None:
    """The decoder for the component data, the first time this session needs it: its spec and
    the URL of its weights (asset routes mounted) or the weights themselves, as base64."""
    sent = st.session_state.setdefault(SENT_KEY, [])
    if live.model_id in sent:
        return None
    out = exported(live.path, live.mtime, export.MAX_PARAMS)
    sent.append(live.model_id)
    if assets.mounted():
        return {"spec": out["spec"], "url": _weights_url(out)}
    return {"spec": out["spec"], "weights": base64.b64encode(out["weights"]).decode("ascii")}


def _on_need(model_id: str) -> Callable[[], None]:
    """The browser lacks the decoder of ``model_id`` (the component's model, whatever id the
    browser names): send the weights again on this run, unless that was done too recently or
    too often in this session."""
    def need() -> None:
        log = st.session_state.setdefault(NEED_KEY, {})
        if validate.throttle(log, model_id, time.monotonic(), NEED_EVERY_S, NEED_MAX):
            sent = st.session_state.setdefault(SENT_KEY, [])
            if model_id in sent:
                sent.remove(model_id)
    return need


def _on_failed(key: str, model_id: str) -> Callable[[], None]:
    def failed() -> None:
        message = validate.plain_text((st.session_state.get(key) or {}).get("failed"), FAILED_CHARS)
        st.session_state.setdefault(FAILED_KEY, {})[model_id] = message
    return failed


def view(live: LiveDecoder, channel: str, z: Sequence[float], rev: int, key: str, size: int = 336,
         caption: str = "", label: int | None = None, labels: Sequence[int] | None = None) -> None:
    """A canvas with the decoded image of ``z`` (D,), redrawn in the browser whenever the
    sliders of the same ``channel`` move; about ``size`` px wide, nearest-neighbour. A
    conditional model's decoder draws class ``label`` (a new label redraws the same z); with
    ``labels``, the canvas is one row: z drawn as each of those classes, ``size`` px each."""
    data = {"kind": "view", "channel": channel, "model": live.model_id, "decoder": _decoder_field(live),
            "z": [float(v) for v in z], "rev": int(rev), "size": int(size), "caption": caption,
            "label": None if label is None else int(label),
            "labels": None if labels is None else [int(c) for c in labels]}
    _component(key=key, data=data, on_need_change=_on_need(str(live.model_id)),
               on_failed_change=_on_failed(key, str(live.model_id)))


def sliders(live: LiveDecoder, channel: str, z: Sequence[float], rev: int, dims: list[dict[str, Any]], key: str,
            on_release: Callable[[Any], None], limit: float = 3.0, step: float = 0.05) -> None:
    """One live slider per entry of ``dims`` (see :func:`ui.fig_live.slider_dims`) over
    [-limit, limit], editing ``channel``'s z. ``on_release`` gets the whole z as sent by the
    browser (anything: check it with :func:`services.validate.latent`) when a slider is
    released, as a callback before the rerun."""
    def released() -> None:
        on_release((st.session_state.get(key) or {}).get("z"))

    data = {"kind": "sliders", "channel": channel, "model": live.model_id, "z": [float(v) for v in z],
            "rev": int(rev), "dims": dims, "limit": float(limit), "step": float(step)}
    _component(key=key, data=data, on_z_change=released)


def pad(live: LiveDecoder, key: str, background: dict[str, Any], pinned: Sequence[float] | None,
        on_pin: Callable[[Any], None], basis: dict[str, list] | None = None, pad_size: int = 360,
        image_size: int = 224, label: int | None = None, path: dict[str, Any] | None = None) -> None:
    """The latent pad: ``background`` from :func:`ui.fig_live.pad_payload`, the ``pinned``
    plane point or None, and ``basis`` ({"origin": (D,), "axes": [(D,), (D,)]}) mapping plane
    coordinates (a, b) to z = origin + a axes[0] + b axes[1] (None: z = (a, b)). ``on_pin``
    gets the clicked plane point as sent by the browser (anything: check it with
    :func:`services.validate.plane_point` and the pad's extent). A conditional model's decoder
    draws class ``label`` under the cursor. ``path`` (optional, :func:`path_overlay`) draws the
    path between two codes as a polyline, with a marker at the t of the path slider that shares
    its channel, moving while that slider is dragged."""
    def pinned_now() -> None:
        on_pin((st.session_state.get(key) or {}).get("pin"))

    data = {"kind": "pad", "model": live.model_id, "decoder": _decoder_field(live), **background,
            "pinned": None if pinned is None else [float(v) for v in pinned], "basis": basis,
            "pad_size": int(pad_size), "image_size": int(image_size), "label": None if label is None else int(label),
            "path": path}
    _component(key=key, data=data, on_pin_change=pinned_now, on_need_change=_on_need(str(live.model_id)),
               on_failed_change=_on_failed(key, str(live.model_id)))


def path_overlay(channel: str, points: dict[str, list], z0: Sequence[float], z1: Sequence[float], method: str,
                 t: float) -> dict[str, Any]:
    """The ``path`` of :func:`pad`: the polyline ``points`` ({"x", "y"}: plane coordinates, from
    :func:`ui.fig_live.path_points`), the ends z0, z1 (D,) and ``method``, so the marker at t is
    the exact projection of z_t (through the pad's basis), and the ``channel`` of the path slider."""
    return {"channel": channel, "x": [float(v) for v in points["x"]], "y": [float(v) for v in points["y"]],
            "z0": [float(v) for v in z0], "z1": [float(v) for v in z1], "method": str(method), "t": float(t)}


def path(live: LiveDecoder, key: str, z0: Sequence[float], z1: Sequence[float], method: str, t: float, rev: int,
         on_release: Callable[[Any], None], label: int | None = None, channel: str = "path", size: int = 280,
         caption: str = "decoded at t = {t}", slider_label: str = "t (0 = start, 1 = end)",
         step: float = 0.01) -> None:
    """The live path: a canvas with the decoded image of z_t on the path z0 -> z1 (D,) (``method``
    "linear" or "spherical", computed in the browser as :func:`vae.explore.interpolate_at` does)
    above one range input for t in [0, 1]. Every ``input`` event redraws the canvas (and moves the
    marker of a :func:`pad` with the same ``channel``); t reaches Python only on release, through
    ``on_release`` (anything: check it with :func:`services.validate.unit_fraction`). The browser
    takes the server's ``t`` only when ``rev`` changes. ``caption``'s ``{t}`` is filled in with t
    (2 decimals) as it moves. A conditional model's decoder draws class ``label``."""
    def released() -> None:
        on_release((st.session_state.get(key) or {}).get("t"))

    data = {"kind": "path", "channel": channel, "model": live.model_id, "decoder": _decoder_field(live),
            "z0": [float(v) for v in z0], "z1": [float(v) for v in z1], "method": str(method), "t": float(t),
            "rev": int(rev), "size": int(size), "caption": caption, "slider_label": slider_label,
            "step": float(step), "label": None if label is None else int(label)}
    _component(key=key, data=data, on_t_change=released, on_need_change=_on_need(str(live.model_id)),
               on_failed_change=_on_failed(key, str(live.model_id)))
