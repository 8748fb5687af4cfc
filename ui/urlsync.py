"""Every view is a link: the Streamlit side of :mod:`services.urlstate`.

A page calls :func:`read` before its widgets (the link's state, re-checked, to put into
``st.session_state``: once per link, so it never overrides what the user does next), then
:func:`write` after them (its current state and the model into ``st.query_params``, only when
something changed: updating the query string does not rerun the app), and :func:`copy_link`
for the "Copy link" button. The page itself is the URL's path (``/generate``); the link carries
``model`` and the page's own parameters, never a workspace, a job or any other setting.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import streamlit as st

from services import urlstate
from ui import state, widgets

LAST_KEY = "_urlsync_last"  # {page: {param: text}}: the page state this session last read or wrote
MODEL_SEEN_KEY = "_urlsync_model_seen"
WROTE_KEY = "_urlsync_wrote"  # (page, {param: text}): what this session last put into the URL
NOT_IN_LINK = "Uploaded images and drawings are not in links: whoever opens this link picks their own."
_CSS = """
.vae-link { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; font-family: inherit; }
.vae-link button { font: inherit; font-size: 0.875rem; padding: 0.25rem 0.75rem; border-radius: 0.5rem;
  border: 1px solid rgba(49, 51, 63, 0.2); background: transparent; color: inherit; cursor: pointer;
  display: inline-flex; align-items: center; gap: 0.35rem; }
.vae-link button:hover { border-color: #ff4b4b; color: #ff4b4b; }
.vae-link input { font: inherit; font-size: 0.8rem; min-width: 24rem; flex: 1; padding: 0.2rem 0.4rem; }
.vae-link span { font-size: 0.8rem; opacity: 0.75; }
"""
_HTML = """<div class="vae-link">
<button type="button" data-testid="copyLink"><svg viewBox="0 0 24 24" width="14" height="14" aria-hidden="true"
fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"><path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0
0-5.7-5.7l-1 1"/><path d="M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"/></svg> Copy link</button>
<span data-testid="copyLinkStatus" aria-live="polite"></span>
<input data-testid="copyLinkField" type="text" readonly hidden aria-label="Link to this view">
</div>"""
_JS = """
export default function (component) {
  const {data, parentElement} = component;
  const root = parentElement;
  root.__vaeLinkKeys = (data && Array.isArray(data.keys)) ? data.keys : [];
  const button = root.querySelector("button"), field = root.querySelector("input");
  const status = root.querySelector("span");
  if (!button || button.dataset.bound) return;
  button.dataset.bound = "1";
  button.addEventListener("click", async () => {
    // The page's own URL (the path is the page), keeping only the link's parameters.
    const here = new URL(window.location.href), keep = new URLSearchParams();
    for (const key of root.__vaeLinkKeys) {
      const values = here.searchParams.getAll(key);
      if (values.length) keep.set(key, values[values.length - 1]);
    }
    const query = keep.toString();
    const link = here.origin + here.pathname + (query ? "?" + query : "");
    field.value = link;
    button.dataset.link = link;
    try {
      await navigator.clipboard.writeText(link);
      field.hidden = true;
      status.textContent = "Link copied.";
    } catch (e) {  // no clipboard (plain http on another machine, or denied): copy by hand
      field.hidden = false;
      field.focus();
      field.select();
      status.textContent = "Copy this link (Ctrl+C):";
    }
  });
}
"""
_BUTTON = st.components.v2.component("vae_copy_link", html=_HTML, css=_CSS, js=_JS)


def _texts(page: str) -> dict[str, str]:
    """The page's parameters in the URL now, as text (the last of repeated values)."""
    out: dict[str, str] = {}
    for name in urlstate.params(page):
        values = st.query_params.get_all(name)
        if values:
            out[name] = values[-1]
    return out


def _left_by_another_page(page: str, texts: dict[str, str]) -> bool:
    """Whether ``texts`` are only what another page of this session wrote (a parameter name such
    as ``c`` or ``seed`` that pages share, still in the URL after a page switch): not a link."""
    wrote_page, wrote = st.session_state.get(WROTE_KEY, (None, {}))
    return wrote_page not in (None, page) and all(wrote.get(k) == v for k, v in texts.items())


def _model_note(model_name: str) -> str | None:
    """Once per session: a ``?model=`` this server does not list for this browser."""
    if st.session_state.get(MODEL_SEEN_KEY):
        return None
    st.session_state[MODEL_SEEN_KEY] = True
    wanted = st.query_params.get_all("model")
    if wanted and wanted[-1] != model_name:
        return f"The link's model is not available here, so this page shows {widgets.safe_text(model_name, 80)}."
    return None


def read(page: str, ctx: urlstate.Context, model_name: str) -> dict[str, Any]:
    """The state a link brought to ``page`` that this session has not applied yet (re-checked by
    :func:`services.urlstate.decode`); {} when there is none. Dropped values are named in one
    warning. Call before the page's widgets, and put the values into their session state."""
    problems = [note for note in [_model_note(model_name)] if note]
    texts = _texts(page)
    last = st.session_state.setdefault(LAST_KEY, {})
    state: dict[str, Any] = {}
    if texts and texts != last.get(page) and not _left_by_another_page(page, texts):
        last[page] = texts
        state, dropped = urlstate.decode(page, texts, ctx)
        problems += dropped
    if problems:
        st.warning("This link could not be used in full. " + " ".join(problems), icon=":material/link_off:")
    return state


def write(page: str, state: Mapping[str, Any], model_name: str) -> bool:
    """Put ``page``'s current ``state`` and the model into the URL; other pages' parameters go,
    anything else (e.g. ``present``) stays. Sends nothing when the URL already says it (no
    message, no rerun: query parameter updates never rerun the app). Returns whether it changed."""
    own = urlstate.encode(page, state)
    want = {"model": model_name, **own}
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    ours = {k: v[-1] for k, v in current.items() if v and (k == "model" or k in urlstate.ALL_PARAMS)}
    st.session_state.setdefault(LAST_KEY, {})[page] = own
    st.session_state[WROTE_KEY] = (page, dict(own))
    if ours == want and all(len(current[k]) == 1 for k in want):
        return False
    keep = {k: v for k, v in current.items() if k != "model" and k not in urlstate.ALL_PARAMS}
    st.query_params.from_dict({**keep, **want})
    return True


def copy_link(page: str, key: str = "copy_link", extra: tuple[str, ...] = ()) -> None:
    """The "Copy link" button: copies this page's URL (its path, the model and ``page``'s
    parameters only) to the clipboard, or shows it to copy by hand where the browser has no
    clipboard for the page (plain http on another machine)."""
    _BUTTON(key=key, data={"keys": ["model", *urlstate.params(page), *extra]})


def plain_page(page: str, extra: tuple[str, ...] = ()) -> None:
    """A page whose link is its path and the model (and its ``extra`` parameters, e.g. Train's
    ``job``): the model into the URL, and the button."""
    name = state.current_name()
    if name is not None:
        note = _model_note(name)
        if note:
            st.warning(note, icon=":material/link_off:")
        write(page, {}, name)
    copy_link(page, extra=extra)


def not_in_link(what: str) -> None:
    """Say that the link's ``what`` (e.g. "start image") was an upload or a drawing, which links
    never carry."""
    st.info(f"The shared view's {what} was an uploaded image or a drawing: those are not in links. "
            "Upload or draw your own here, or pick another source.", icon=":material/link_off:")


def say_not_in_link(*values: Any) -> None:
    """A caption under the view when one of the link's ``values`` is an upload or a drawing."""
    if any(isinstance(v, str) and v in urlstate.NOT_IN_LINK for v in values):
        st.caption(NOT_IN_LINK)


def context(latent_dim: int, num_classes: int = 0, test_ids: Any = None) -> urlstate.Context:
    """A :class:`services.urlstate.Context` for the current model; ``test_ids`` the test set's
    ids ((N,) array or tensor) when the page's links name test images."""
    ids = None if test_ids is None else np.asarray(test_ids)  # membership is checked only when a link is read
    return urlstate.Context(latent_dim=int(latent_dim), num_classes=int(num_classes), test_ids=ids)


def position(test_ids: Any, image_id: int) -> int:
    """The position in the loaded test set of the image with id ``image_id`` (a checked id)."""
    return int(np.flatnonzero(np.asarray(test_ids) == int(image_id))[0])
