"""Draw a digit: a drawing canvas as an input source (an ``st.components.v2`` component).

The component (``ui/live_assets/``: decoder.js, encoder.js, prep.js, draw_plane.js and draw.js
joined into one ES module, and draw.css; no build step) draws white ink on black with the
mouse, a finger or a pen. While a stroke goes on, the browser prepares the drawing as MNIST was made (prep.js: the
pixels :mod:`services.preprocess` would make of it), encodes it (the encoder exported by
:func:`services.encoder_export.export_encoder`, posterior mean) and decodes it (the decoder
exported for the live decoder, :func:`ui.live.exported`): the reconstruction, the code's dot on
a small latent plane (:func:`ui.state.latent_plane`: z itself for a 2-D model, the PCA plane
above) and the preparation's steps follow the strokes with no message to the server. Lifting
the pen sends one value: the prepared H x W pixels, re-checked by
:func:`services.drawing.drawing_pixels`; :func:`canvas` returns them as the model input, and
the page reconstructs and scores them on the server.

The code and weights travel as the live decoder's do (:mod:`ui.live`): under ``serve.py`` the
joined module and each model's weights are content-addressed assets fetched over HTTP (cached
by the browser), otherwise inline (weights once per session; the browser asks again with a
"need" trigger, throttled). When the encoder or decoder cannot be exported, or the browser
reports that it could not run them ("failed", cut to one line of plain text), the canvas
still draws and prepares, and the reconstruction comes from the server on release.
"""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import streamlit as st
import torch

from services import assets, drawing, encoder_export, export, validate

from . import live, state

ASSETS_DIR = Path(__file__).with_name("live_assets")
JS_FILES = ("decoder.js", "encoder.js", "prep.js", "draw_plane.js", "draw.js")  # one ES module, in this order
CANVAS_PX = 256  # the canvas's backing store: prep.js takes 256 px as they are (1-3 ms), more costs 8-35 ms
STROKE_PX = 18  # default stroke width, in canvas pixels (MNIST's strokes are about 1/10 of the digit)
PLANE_POINTS = 600  # test points drawn on the small latent plane
SENT_KEY = "_draw_sent"  # export ids whose weights this session has put into component data (inline)
FAILED_KEY = "_draw_failed"  # encoder id -> what the browser reported (plain one-line text)
NEED_KEY = "_draw_need"
NEED_EVERY_S, NEED_MAX = 30.0, 10
WEIGHTS_SUFFIX = ".bin"


def _source(name: str) -> str:
    return (ASSETS_DIR / name).read_text(encoding="utf-8")


MODULE_JS = "\n".join(_source(name) for name in JS_FILES)
MODULE_NAME = assets.publish(MODULE_JS.encode("utf-8"), ".js", assets.JS_TYPE, pinned=True)
LOADER_JS = _source("loader.js").replace("__VAE_MODULE_URL__", json.dumps(assets.url(MODULE_NAME)))
_INLINE = st.components.v2.component("vae_draw", js=MODULE_JS, css=_source("draw.css"))
_LOADER = st.components.v2.component("vae_draw_loader", js=LOADER_JS, css=_source("draw.css"))


@st.cache_resource(show_spinner=False, max_entries=8)
def exported_encoder(path: str, mtime: float, max_params: int) -> dict[str, Any]:
    """The encoder of the model at ``path`` for the browser, ``{"id", "spec", "weights", "blob"}``,
    or ``{"reason": ...}`` when it cannot run there; once per model version, shared read-only."""
    try:
        exp = encoder_export.export_encoder(state.load_checkpoint(path, mtime).model, max_params)
    except encoder_export.UnsupportedEncoder as exc:
        return {"reason": str(exc)}
    return {"id": exp.model_id, "spec": exp.spec, "weights": exp.weights,
            "blob": assets.name_for(exp.weights, WEIGHTS_SUFFIX)}


def _exports(cur: state.Current) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """The encoder's and decoder's exports and, when live reconstruction is off, why (a
    Markdown-safe phrase: the browser's own message in it is escaped)."""
    enc = exported_encoder(*cur.key, export.MAX_PARAMS)
    dec = live.exported(*cur.key, export.MAX_PARAMS)
    if "reason" in enc:
        return enc, dec, f"the encoder cannot run in the browser: {validate.markdown_escape(enc['reason'])}"
    if "reason" in dec:
        return enc, dec, f"the decoder cannot run in the browser: {validate.markdown_escape(dec['reason'])}"
    failed = st.session_state.get(FAILED_KEY, {}).get(enc["id"])
    if failed:
        return enc, dec, f"your browser could not run it: {validate.markdown_escape(failed)}"
    return enc, dec, None


def _field(out: dict[str, Any]) -> dict[str, Any]:
    """An export for the component data: its spec and the URL of its weights (asset routes
    mounted), else the weights as base64 the first time this session needs them, else its id."""
    if assets.mounted():
        if not assets.has(out["blob"]):
            assets.publish(out["weights"], WEIGHTS_SUFFIX, assets.BINARY_TYPE)
        return {"id": out["id"], "spec": out["spec"], "url": assets.url(out["blob"])}
    sent = st.session_state.setdefault(SENT_KEY, [])
    if out["id"] in sent:
        return {"id": out["id"]}
    sent.append(out["id"])
    return {"id": out["id"], "spec": out["spec"], "weights": base64.b64encode(out["weights"]).decode("ascii")}


def _plane(cur: state.Current) -> dict[str, Any] | None:
    """The small latent plane: test points, extent and axis names (the latent pad's builder)
    and the basis for D > 2 (None: z itself); None below 2 latent dimensions."""
    if cur.entry.latent_dim < 2:
        return None
    background = state.pad_background(*cur.key, cur.entry.dataset, state.MAP_LOW, state.MAP_HIGH, PLANE_POINTS)
    return {**background, "basis": cur.plane().basis}


def _on_need(ids: list[str]):
    """The browser lacks weights it was sent (a reloaded page): send them again, throttled."""
    def need() -> None:
        log = st.session_state.setdefault(NEED_KEY, {})
        if validate.throttle(log, ids[0], time.monotonic(), NEED_EVERY_S, NEED_MAX):
            sent = st.session_state.setdefault(SENT_KEY, [])
            sent[:] = [i for i in sent if i not in ids]
    return need


def _on_failed(key: str, enc_id: str):
    def failed() -> None:
        message = validate.plain_text((st.session_state.get(key) or {}).get("failed"), live.FAILED_CHARS)
        st.session_state.setdefault(FAILED_KEY, {})[enc_id] = message
    return failed


def component_data(cur: state.Current, label: int | None, style: str, invert: str,
                   image_size: int = 168) -> tuple[dict[str, Any], list[str]]:
    """The component's data for the session's model (and the export ids it names)."""
    enc, dec, reason = _exports(cur)
    cfg = cur.ckpt.config
    live_ok = reason is None
    data = {"canvas": CANVAS_PX, "css": CANVAS_PX, "stroke": STROKE_PX, "image_size": int(image_size),
            "prep": {"height": int(cfg.height), "width": int(cfg.width), "style": style, "invert": invert},
            "label": None if label is None else int(label), "reason": reason,
            "encoder": _field(enc) if live_ok else None, "decoder": _field(dec) if live_ok else None,
            "plane": _plane(cur) if live_ok else None}
    return data, [enc["id"], dec["id"]] if live_ok else []


def canvas(cur: state.Current, key: str, label: int | None = None, style: str = "mnist",
           invert: str = "auto", image_size: int = 168) -> torch.Tensor | None:
    """Mount the drawing canvas for the session's model; return the released drawing as the
    model input, (1, 1, H, W) float32 in [0, 1] (re-checked: a bad value shows an error), or
    None while nothing is drawn. ``label``: the class a conditional model encodes and decodes
    it as; ``style`` / ``invert``: the preparation (:func:`services.preprocess.prepare`'s)."""
    cfg = cur.ckpt.config
    if cfg.channels != 1:
        st.info(f"Drawing works with one-channel (grayscale) models; this one has {cfg.channels} channels.")
        return None
    data, ids = component_data(cur, label, style, invert, image_size)
    callbacks = {"on_need_change": _on_need(ids), "on_failed_change": _on_failed(key, ids[0])} if ids else {}
    result = (_LOADER if assets.mounted() else _INLINE)(key=key, data=data, **callbacks)
    if data["reason"]:
        st.caption(f"Live reconstruction is off ({data['reason']}): the reconstruction comes from the server "
                   "when you lift the pen.")
    try:
        pixels = drawing.drawing_pixels((result or {}).get("drawing"), (cfg.channels, cfg.height, cfg.width))
    except drawing.DrawingError as exc:
        st.error(str(exc))
        return None
    return None if pixels is None else drawing.to_tensor(pixels)
