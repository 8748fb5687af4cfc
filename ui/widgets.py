"""Small shared widgets."""
from __future__ import annotations

import streamlit as st

from services import preprocess, validate
from services.redact import redact_paths


def explainer(markdown: str, title: str = "What am I seeing?") -> None:
    """A collapsed expander explaining the page in classroom terms."""
    with st.expander(title):
        st.markdown(markdown)


def show_png(png: bytes, caption: str | None = None) -> None:
    """Finished PNG bytes (e.g. from :mod:`ui.renders`), shown at their own size, not re-encoded."""
    st.image(png, caption=caption, width="content", output_format="PNG")


def require_entrypoint() -> None:
    """Make a deep link on a fresh server run through app.py (page config, sidebar picker).

    Streamlit decides at its first session whether the app is an old-style multipage app,
    from whether a ``pages/`` folder exists; until app.py has called ``st.navigation`` once,
    a URL like ``/reconstruct`` would run that page alone. Each page calls this first: in that
    case it clears the old-style flag and reruns, and the rerun goes through app.py.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the flag: nothing to fix
        return
    if getattr(PagesManager, "uses_pages_directory", False) and not st.session_state.get("_entrypoint_rerun"):
        st.session_state["_entrypoint_rerun"] = True  # once per session, so a rerun loop is impossible
        PagesManager.uses_pages_directory = False
        st.rerun()


def safe_text(text: object, limit: int = 300) -> str:
    """Text from outside the app's own code (a file name, a library message) made fit for a
    Markdown element: one line, at most ``limit`` characters, no server paths, punctuation
    escaped so it cannot become a link, HTML or formatting."""
    return validate.markdown_escape(redact_paths(validate.plain_text(str(text), limit, "?")))


def prepared_upload(raw: bytes, shape: tuple[int, int, int], dataset: str) -> preprocess.Prepared | None:
    """An uploaded file prepared for a model of image ``shape`` the dataset's way (MNIST-style for
    digits), its notes shown as captions; None after an error saying why (never a traceback)."""
    try:
        prepared = preprocess.prepare(raw, shape, style=preprocess.default_style(dataset))
    except preprocess.ImageError as exc:
        st.error(str(exc))
        return None
    for note in prepared.notes:
        st.caption(note)
    return prepared
