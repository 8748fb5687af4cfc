"""VAE Latent Lab's server entry: ``streamlit run serve.py`` (Streamlit's ASGI mode, ``st.App``).

It runs the same app as ``streamlit run app.py``, plus:

- routes ``GET /_vae/assets/NAME``: content-addressed blobs from :mod:`services.assets` (the live
  component's code, decoders' weights), cacheable for a year, so they travel once per browser
  over HTTP instead of once per visit over the Streamlit websocket;
- a lifespan that says those routes are mounted (:func:`services.assets.set_mounted`, read by
  :mod:`ui.live`) and starts the background warm-up of the shipped models (:mod:`ui.warm`),
  serving once the default model is warm.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import streamlit as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services import assets, jobs
from ui import warm

WAIT_FOR_DEFAULT_S = 30.0


async def asset(request: Request) -> Response:
    """One published blob by name (never a path on disk), or 404."""
    status, body, headers = assets.respond(request.path_params["name"])
    return Response(body, status_code=status, headers=headers)


def _preload() -> None:
    """Import what the pages import lazily (Plotly pulls in pandas on first use) before the
    warm-up thread starts: two threads importing pandas at once can see it half-initialised
    (seen once: "partially initialized module 'pandas' has no attribute 'Series'")."""
    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import plotly.io  # noqa: F401

    from ui import figures, renders  # noqa: F401


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """Mark the asset routes as mounted, start the warm-up; at shutdown unmark them and stop
    the training workers (they save a checkpoint, so their jobs can be resumed)."""
    assets.set_mounted(True)
    _preload()
    first = warm.start()
    # Serve once the default model is loaded and exported (a few tenths of a second), so the
    # class's first visits find Decode ready; its encodings and the other models warm in the
    # background. A stuck warm-up never blocks the start.
    await asyncio.to_thread(first.wait, WAIT_FOR_DEFAULT_S)
    try:
        yield
    finally:
        assets.set_mounted(False)
        jobs.close_all()  # training workers stop and save (this server's exit skips atexit)


ROUTES = [Route(assets.PREFIX + "/{name}", asset, methods=["GET"])]

app = st.App("app.py", lifespan=lifespan, routes=ROUTES)
