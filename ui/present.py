"""Presenter mode (a teacher at a projector) and the narrow-screen layout (phones).

**Presenter mode** belongs to one browser session: the sidebar toggle "Presenter mode", or a
link with ``?present=1`` (re-checked by :func:`services.validate.choice`; kept in the URL while
it is on, so a reload keeps it). Every other session, a student's, looks as before. When on,
:func:`mount` injects a stylesheet (no external resources) with large type and images for a
projector; it hides the sidebar, the Streamlit toolbar and the secondary controls (explainers,
expanders, download buttons and whatever a page puts in :func:`secondary`). The page links move
to the top bar, and a button and the Esc key leave the mode. :func:`shortcuts` gives a page's
main action a key. A tiny listener (``vae_present_keys``) clicks the page's own button for it,
so the action takes the page's validated path, and a legend lists the keys. :func:`stepper`
adds previous / next buttons for a slider, e.g. Morph's t.

**Phones**: :data:`PHONE_CSS` is in every session: narrower page margins at widths of 640 px or
less. The live component's own narrow-screen rules are in ``ui/live_assets/live.css``: a small
copy of Decode's image stuck to the top of the screen above the live sliders, the latent pad
and its image side by side, sliders that take horizontal touch drags while vertical ones scroll
the page; ``ui/live_assets/draw.css`` puts the drawing canvas beside its reconstruction.
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from services import validate

PARAM = "present"
ON_VALUES = ("1", "true", "on")
OFF_VALUES = ("0", "false", "off")
STATE_KEY = "_present"  # the session's presenter mode (True / absent)
TOGGLE_KEY = "present_mode"  # the sidebar toggle, set from STATE_KEY on every run
EXIT_KEY = "present_exit"
SEEN_KEY = "_present_param_seen"  # the URL flag is read on a session's first run only
SECONDARY = "present_secondary_"  # key prefix of containers folded away in presenter mode
KEYS_KEY = "present_keys"
EXIT_SHORTCUT = "Escape"
BAD_PARAM = "This link's present value is not understood, so presenter mode stays off: use ?present=1 to turn it on."

PRESENT_CSS = """<style>
html { font-size: 22px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stToolbarActions"], [data-testid="stAppDeployButton"], [data-testid="stMainMenu"],
[data-testid="stStatusWidget"], [data-testid="stDecoration"],
[data-testid="stExpander"], [data-testid="stDownloadButton"], [class*="st-key-present_secondary_"] {
  display: none !important;
}
[data-testid="stMainBlockContainer"] { max-width: none; padding: 4rem 3rem 3rem; }
[data-testid="stImage"] img { image-rendering: pixelated; zoom: 1.5; }
[data-testid="stMain"] { --vae-live-zoom: 1.5; }
.st-key-present_exit { position: fixed; top: 0.6rem; right: 1rem; z-index: 999992; width: auto !important; }
.st-key-present_exit button { font-size: 0.7rem; min-height: 0; padding: 0.1rem 0.6rem; }
.vae-present-legend kbd {
  font: inherit; font-weight: 600; padding: 0 0.35em; border-radius: 0.25em;
  border: 1px solid rgba(128, 128, 128, 0.6);
}
</style>"""

PHONE_CSS = """<style>
[class*="st-key-present_keys"] { display: none; }
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-left: 0.75rem; padding-right: 0.75rem; }
}
</style>"""

_KEYS_JS = """
export default function (component) {
  const {data, parentElement} = component;
  const all = window.__vaePresentKeys || (window.__vaePresentKeys = {maps: new Map(), pressed: []});
  if (!all.listening) {
    all.listening = true;
    window.addEventListener("keydown", (ev) => {
      if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
      const target = ev.composedPath()[0];
      const typing = target && target.closest &&
        target.closest("input, textarea, select, [contenteditable], [role=slider], [role=combobox]");
      // A focused field keeps its own keys; Esc too while a list is open.
      if (typing && (ev.key !== "Escape" || target.closest("[role=combobox], [aria-expanded=true]"))) return;
      for (const keys of all.maps.values()) {
        const selectors = keys[ev.key];
        if (!selectors) continue;
        const found = selectors.map((s) => document.querySelector(s));
        if (found.some((b) => !b || b.disabled)) continue;
        ev.preventDefault();
        ev.stopImmediatePropagation();  // not Streamlit's own keys too ("r" reruns the page)
        all.pressed.push(ev.key);
        found.forEach((b, i) => setTimeout(() => b.click(), 150 * i));
        return;
      }
    }, true);
  }
  all.maps.set(parentElement, (data && data.keys) || {});
  return () => { all.maps.delete(parentElement); };
}
"""
_KEYS = st.components.v2.component("vae_present_keys", js=_KEYS_JS)


def button(key: str, testid: str | None = None) -> str:
    """The CSS selector of the button of the widget with ``key`` (a button, a download button),
    or of its element with ``testid`` (e.g. a number input's ``stNumberInputStepUp``)."""
    inner = f'[data-testid="{testid}"]' if testid else "button"
    return f".st-key-{key} {inner}"


def on() -> bool:
    """Is presenter mode on in this browser session?"""
    return st.session_state.get(STATE_KEY) is True


def _param_value() -> str | None:
    """``?present=`` as 'on', 'off', 'bad' (given but not understood) or None (absent)."""
    raw = st.query_params.get(PARAM)
    if raw is None:
        return None
    value = validate.choice(raw.strip().lower() if isinstance(raw, str) else None, ON_VALUES + OFF_VALUES, None)
    if value is None:
        return "bad"
    return "on" if value in ON_VALUES else "off"


def _exit() -> None:
    st.session_state[STATE_KEY] = False


def _toggled() -> None:
    st.session_state[STATE_KEY] = st.session_state.get(TOGGLE_KEY) is True


def mount() -> bool:
    """Presenter mode for this run (call once per run from app.py, before ``st.navigation``):
    the URL flag (first run), the sidebar toggle, the styles, the exit button. Returns :func:`on`."""
    flag = _param_value()
    if not st.session_state.get(SEEN_KEY):
        st.session_state[SEEN_KEY] = True
        if flag in ("on", "off"):
            st.session_state[STATE_KEY] = flag == "on"
    if flag == "bad":
        st.error(BAD_PARAM)
    # The toggle shows the session's state (its widget id can change between runs; the state stays).
    st.session_state[TOGGLE_KEY] = on()
    st.sidebar.toggle("Presenter mode", key=TOGGLE_KEY, on_change=_toggled,
                      help="Large type for a projector, no sidebar, keyboard shortcuts; only in this browser tab. "
                           "Esc leaves it. A link with ?present=1 opens in it.")
    st.html(PHONE_CSS)
    if not on():
        if flag == "on":
            del st.query_params[PARAM]
        return False
    if st.query_params.get(PARAM) != "1":
        st.query_params[PARAM] = "1"
    st.html(PRESENT_CSS)
    st.button("Exit presenter mode (Esc)", key=EXIT_KEY, on_click=_exit, icon=":material/close_fullscreen:")
    return True


def nav_position() -> str:
    """Where ``st.navigation`` puts the page links: the top bar in presenter mode (the sidebar
    is hidden), else the sidebar."""
    return "top" if on() else "sidebar"


def shortcuts(keys: Mapping[str, tuple[str, Sequence[str]]], name: str) -> None:
    """Keyboard shortcuts for a page's main actions, in presenter mode only (else nothing).

    ``keys`` maps a key (``KeyboardEvent.key``: "n", "ArrowRight") to (what it does, the CSS
    selectors of the buttons it clicks, in order; see :func:`button`). ``name`` makes the
    listener's key unique on the page. Shows a legend of the keys, Esc included."""
    if not on():
        return
    table = {k: list(sel) for k, (_, sel) in keys.items()}
    table[EXIT_SHORTCUT] = [button(EXIT_KEY)]
    _KEYS(key=f"{KEYS_KEY}_{name}", data={"keys": table})
    names = {"ArrowRight": "→", "ArrowLeft": "←", "Escape": "Esc", " ": "Space"}
    items = [f"<kbd>{html.escape(names.get(k, k))}</kbd> {html.escape(what)}" for k, (what, _) in keys.items()]
    items.append("<kbd>Esc</kbd> leave presenter mode")
    st.html(f'<div class="vae-present-legend">Keys: {" · ".join(items)}</div>')


def secondary(name: str) -> Any:
    """A container for secondary controls (explanations, exports...), folded away in presenter
    mode: ``with present.secondary("decode_export"): ...``."""
    return st.container(key=f"{SECONDARY}{name}")


def _step(key: str, lo: float, hi: float, points: Any, direction: int) -> None:
    """Move the slider ``key`` to the previous / next of ``points`` evenly spaced values over [lo, hi]."""
    n = int(validate.number(points, 2, 101, 11, integer=True)) - 1
    value = validate.number(st.session_state.get(key), lo, hi, lo)
    i = round((value - lo) / (hi - lo) * n) + direction
    st.session_state[key] = lo + (hi - lo) * min(max(i, 0), n) / n


def stepper(key: str, lo: float, hi: float, points: Any, what: str) -> None:
    """In presenter mode, ◀ / ▶ buttons and the ←/→ keys moving the slider with ``key`` (not yet
    drawn in this run) over ``points`` evenly spaced values from ``lo`` to ``hi`` (a page's own
    count, re-checked here); nothing otherwise."""
    if not on():
        return
    row = st.container(horizontal=True)
    row.button(f"◀ previous {what}", key=f"{key}_prev", on_click=_step, args=(key, lo, hi, points, -1))
    row.button(f"next {what} ▶", key=f"{key}_next", on_click=_step, args=(key, lo, hi, points, 1))
    shortcuts({"ArrowLeft": (f"previous {what}", [button(f"{key}_prev")]),
               "ArrowRight": (f"next {what}", [button(f"{key}_next")])}, key)
