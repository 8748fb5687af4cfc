"""Simulated students for load benches: a websocket session that behaves like one browser tab.

A :class:`Student` speaks Streamlit's websocket protocol through :class:`harness.wsclient.Session`
with a browser's message cache (:class:`harness.wsclient.MessageCache`), visits pages
(:meth:`Student.visit`), changes one number input or slider per page (:meth:`Student.change`,
the widget named by that page's :class:`PageSpec`), and after every run fetches each media file
the run shows (``/media/...`` image URLs) over HTTP, as the browser's ``<img>`` tags do. Each
action returns a :class:`Sample`: time from sending the request to ``script_finished`` plus the
media fetches, websocket and media bytes, failed fetches, exception elements, cache references.

Only 127.0.0.1/localhost servers are driven (:func:`check_local`). Used by bench/load.py.
"""
from __future__ import annotations

import http.client
import random
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from harness.wsclient import CacheMiss, MessageCache, Run, Session, widget_state

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class PageSpec:
    """One page a student visits: its URL path (empty for the default page), the widget it changes
    (``key``, a number input or slider) and the range of values it picks from; ``setup`` widget
    values are set once right after arriving (part of the visit), e.g. to show a test image."""

    path: str
    key: str
    lo: int
    hi: int
    setup: dict[str, Any] = field(default_factory=dict)


# The app's pages (pages/*.py) and the widget a student plays with on each.
APP_PAGES = {
    "decode": PageSpec("", "decode_seed", 0, 10_000),
    "latent_map": PageSpec("latent_map", "latent_map_grid", 10, 25),
    "morph": PageSpec("morph", "morph_a_index", 0, 200),
    "generate": PageSpec("generate", "generate_seed", 0, 10_000),
    "reconstruct": PageSpec("reconstruct", "recon_index", 0, 200, {"recon_source": "Try a test image"}),
}


class Dropped(Exception):
    """The session cannot go on; ``reason``: connect, closed (socket), timeout, cache-miss, no-widget."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass
class Sample:
    """One action (a page visit or a widget change) as the student saw it."""

    page: str
    kind: str  # "visit" or "change"
    seq: int = 0  # the student's actions before this one (0: arriving, server caches maybe cold)
    seconds: float = 0.0  # request to script_finished, plus fetching the run's media
    requests: int = 0  # rerun requests this action sent
    ws_bytes: int = 0
    media_bytes: int = 0
    media_files: int = 0
    media_failed: int = 0
    exceptions: int = 0
    refs: int = 0  # elements that came as references to the message cache


def check_local(url: str) -> str:
    """``url`` without a trailing slash, or ValueError if it is not http on this machine."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS:
        raise ValueError(f"refusing to load {url!r}: only http://127.0.0.1, http://localhost or http://[::1] "
                         "targets are allowed (this tool floods the server it talks to)")
    return url.rstrip("/")


def media_urls(run: Run) -> list[str]:
    """The ``/media/...`` URLs of every image the run shows (what the browser loads)."""
    return [img.url for el in run.of_type("imgs") for img in el.imgs if img.url.startswith("/media/")]


def fetch_media(base_url: str, path: str, timeout: float) -> int:
    """GET ``path`` from the app's server; the body's size. Raises OSError (HTTP errors included)."""
    with urllib.request.urlopen(check_local(base_url) + path, timeout=timeout) as r:
        return len(r.read())


class Student:
    """One simulated browser tab: a session on ``base_url`` (query string ``query``), acting on
    ``pages`` (name -> :class:`PageSpec`), with a seeded ``rng`` for the values it picks.
    ``fetch`` gets a media file (``fetch(base_url, path, timeout) -> bytes read``)."""

    def __init__(self, base_url: str, pages: dict[str, PageSpec], rng: random.Random, query: str = "",
                 timeout: float = 30.0, cache: bool = True, fetch: Callable[[str, str, float], int] = fetch_media):
        self.base_url, self.pages, self.rng, self.query = check_local(base_url), pages, rng, query
        self.timeout, self.fetch = timeout, fetch
        self.cache = MessageCache() if cache else None
        self.session: Session | None = None
        self.page = ""
        self.actions = 0

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def visit(self, page: str) -> Sample:
        """Open ``page`` (connecting on the first visit, navigating after) and apply its setup."""
        spec = self.pages[page]
        sample = Sample(page, "visit", self._next())
        start = time.monotonic()
        if self.session is None:
            self.session = Session(self.base_url, spec.path, self.query, self.timeout, self.cache)
            try:
                run = self._guard(self.session.open)
            except Dropped as exc:
                if self.session._ws is None:  # never connected (refused, handshake failed or timed out)
                    exc.reason = "connect"
                raise
        else:
            run = self._guard(self.session.goto, spec.path)
        self.page = page
        self._account(sample, run)
        if spec.setup:
            self._account(sample, self._guard(self.session.set, **spec.setup))
        sample.seconds = time.monotonic() - start
        return sample

    def change(self, value: int | None = None) -> Sample:
        """Set the current page's widget to ``value`` (by default a random other value in range)."""
        assert self.session is not None and self.session.last is not None, "visit() first"
        spec = self.pages[self.page]
        try:
            kind, proto = self.session.last.widget(spec.key)
        except KeyError as exc:
            raise Dropped("no-widget", f"{spec.key} is not on {self.page}") from exc
        if value is None:
            value = self.rng.randint(spec.lo, spec.hi)
        sample = Sample(self.page, "change", self._next())
        start = time.monotonic()
        self._account(sample, self._guard(self.session.rerun, [widget_state(kind, proto, value)]))
        sample.seconds = time.monotonic() - start
        return sample

    def _next(self) -> int:
        self.actions += 1
        return self.actions - 1

    def fetch_all(self, urls: list[str], sample: Sample) -> None:
        """Fetch every URL, counting files, bytes and failures in ``sample``."""
        for url in urls:
            sample.media_files += 1
            try:
                sample.media_bytes += self.fetch(self.base_url, url, self.timeout)
            except (OSError, http.client.HTTPException):  # urllib's HTTPError, URLError, timeouts
                sample.media_failed += 1

    def _account(self, sample: Sample, run: Run) -> None:
        sample.requests += 1
        sample.ws_bytes += run.bytes
        sample.refs += run.refs
        sample.exceptions += len(run.of_type("exception"))
        self.fetch_all(media_urls(run), sample)

    def _guard(self, action: Callable[..., Run], *args: Any, **kwargs: Any) -> Run:
        """Run one request; a lost connection, a timeout or a cache miss becomes :class:`Dropped`."""
        try:
            return action(*args, **kwargs)
        except TimeoutError as exc:
            raise Dropped("timeout", str(exc)) from exc
        except CacheMiss as exc:
            raise Dropped("cache-miss", str(exc)) from exc
        except (ConnectionClosed, InvalidHandshake, OSError) as exc:
            raise Dropped("closed", f"{type(exc).__name__}: {exc}") from exc


def load_bench() -> Any:
    """``bench/load.py`` as a module, for tests (``bench/`` is a folder of scripts, not a package)."""
    import importlib.util
    import sys
    from pathlib import Path

    if "bench_load" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "bench" / "load.py"
        spec = importlib.util.spec_from_file_location("bench_load", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_load"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_load"]
