"""Simulated students for load benches: a websocket session that behaves like one browser tab.

A :class:`Student` speaks Streamlit's websocket protocol through :class:`harness.wsclient.Session`
with a browser's message cache (:class:`harness.wsclient.MessageCache`), visits pages
(:meth:`Student.visit`), changes one number input or slider per page (:meth:`Student.change`,
the widget named by that page's :class:`PageSpec`; a widget inside an ``@st.fragment`` reruns only
its fragment, as in the browser), and after every run fetches each media file the run sent
(``/media/...`` image URLs) over HTTP, as the browser's ``<img>`` tags do, and once per student
each of the app's HTTP assets a component refers to (``/_vae/assets/...`` under serve.py: the live
component's code, a decoder's weights; cacheable, so a browser loads each once). Each
action returns a :class:`Sample`: time from sending the request to ``script_finished`` plus the
media fetches, websocket, media and asset bytes, failed fetches, exception elements (those the
run sent), cache references, and whether it ran one fragment.

Behind a load balancer (deploy/run_local.sh) a student sends its ``headers`` (the balancer's sticky
cookie) on the websocket handshake and on every media and asset fetch, as a browser sends its
cookies, so all of its requests reach the replica that holds its session.

Only 127.0.0.1/localhost servers are driven (:func:`check_local`). Used by bench/load.py.
"""
from __future__ import annotations

import http.client
import random
import re
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


Fetch = Callable[[str, str, float, dict[str, str] | None], int]  # (base URL, path, timeout, headers) -> bytes


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
    media_failed: int = 0  # media and asset fetches that failed
    asset_bytes: int = 0
    asset_files: int = 0
    exceptions: int = 0
    refs: int = 0  # elements that came as references to the message cache
    fragment_runs: int = 0  # of ``requests``, those that ran one fragment, not the whole page


def check_local(url: str) -> str:
    """``url`` without a trailing slash, or ValueError if it is not http on this machine."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS:
        raise ValueError(f"refusing to load {url!r}: only http://127.0.0.1, http://localhost or http://[::1] "
                         "targets are allowed (this tool floods the server it talks to)")
    return url.rstrip("/")


def media_urls(run: Run) -> list[str]:
    """The ``/media/...`` URLs of every image the run sent (what the browser loads; after a
    fragment run, the fragment's images: the rest of the page is already loaded)."""
    return [img.url for el in run.new_of_type("imgs") for img in el.imgs if img.url.startswith("/media/")]


ASSET_URL = re.compile(rb"/_vae/assets/[A-Za-z0-9._-]+")


def asset_urls(run: Run) -> set[str]:
    """The app's HTTP assets (serve.py's ``/_vae/assets/NAME``) the components this run sent refer to."""
    return {m.decode() for c in run.new_of_type("bidi_component") for m in ASSET_URL.findall(c.SerializeToString())}


def fetch_media(base_url: str, path: str, timeout: float, headers: dict[str, str] | None = None) -> int:
    """GET ``path`` from the app's server (with ``headers``); the body's size. Raises OSError (HTTP
    errors included)."""
    request = urllib.request.Request(check_local(base_url) + path, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return len(r.read())


class Student:
    """One simulated browser tab: a session on ``base_url`` (query string ``query``), acting on
    ``pages`` (name -> :class:`PageSpec`), with a seeded ``rng`` for the values it picks.
    ``fetch`` gets a media file (``fetch(base_url, path, timeout, headers) -> bytes read``);
    ``headers`` go with every request (the websocket's handshake and each fetch)."""

    def __init__(self, base_url: str, pages: dict[str, PageSpec], rng: random.Random, query: str = "",
                 timeout: float = 30.0, cache: bool = True, fetch: Fetch = fetch_media,
                 headers: dict[str, str] | None = None):
        self.base_url, self.pages, self.rng, self.query = check_local(base_url), pages, rng, query
        self.timeout, self.fetch, self.headers = timeout, fetch, dict(headers or {})
        self.cache = MessageCache() if cache else None
        self.session: Session | None = None
        self.page = ""
        self.actions = 0
        self.assets: set[str] = set()  # asset URLs fetched so far: the browser's HTTP cache

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
            self.session = Session(self.base_url, spec.path, self.query, self.timeout, self.cache, self.headers)
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
        for key, value in spec.setup.items():  # one widget at a time, as a user sets them
            self._account(sample, self._set(key, value))
        sample.seconds = time.monotonic() - start
        return sample

    def change(self, value: int | None = None) -> Sample:
        """Set the current page's widget to ``value`` (by default a random value in range)."""
        assert self.session is not None and self.session.last is not None, "visit() first"
        spec = self.pages[self.page]
        if value is None:
            value = self.rng.randint(spec.lo, spec.hi)
        sample = Sample(self.page, "change", self._next())
        start = time.monotonic()
        self._account(sample, self._set(spec.key, value))
        sample.seconds = time.monotonic() - start
        return sample

    def _set(self, key: str, value: Any) -> Run:
        """Change the widget ``key`` of the page shown to ``value``, as a browser does: a widget
        inside a fragment sends that fragment's id, so only the fragment runs."""
        assert self.session is not None and self.session.last is not None, "visit() first"
        try:
            kind, proto = self.session.last.widget(key)
            fragment_id = self.session.last.fragment_of(key)
        except KeyError as exc:
            raise Dropped("no-widget", f"{key} is not on {self.page}") from exc
        return self._guard(self.session.rerun, [widget_state(kind, proto, value)], fragment_id)

    def _next(self) -> int:
        self.actions += 1
        return self.actions - 1

    def fetch_all(self, urls: list[str], sample: Sample, asset: bool = False) -> None:
        """Fetch every URL, counting files, bytes and failures in ``sample`` (as media, or ``asset``)."""
        for url in urls:
            try:
                size = self.fetch(self.base_url, url, self.timeout, self.headers)
            except (OSError, http.client.HTTPException):  # urllib's HTTPError, URLError, timeouts
                sample.media_failed += 1
                size = 0
            if asset:
                sample.asset_files, sample.asset_bytes = sample.asset_files + 1, sample.asset_bytes + size
            else:
                sample.media_files, sample.media_bytes = sample.media_files + 1, sample.media_bytes + size

    def _account(self, sample: Sample, run: Run) -> None:
        sample.requests += 1
        sample.fragment_runs += bool(run.fragment_ids)
        sample.ws_bytes += run.bytes
        sample.refs += run.refs
        sample.exceptions += len(run.new_of_type("exception"))
        self.fetch_all(media_urls(run), sample)
        new = sorted(asset_urls(run) - self.assets)
        self.assets.update(new)
        self.fetch_all(new, sample, asset=True)

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
