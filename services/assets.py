"""Immutable blobs served over HTTP by name: the live component's code and decoders' weights.

``serve.py`` answers ``GET /_vae/assets/NAME`` from this in-memory registry (:func:`respond`), so
static things the browser needs reach it over plain, cacheable HTTP instead of the Streamlit
websocket. A blob's name is the first 16 hex digits of the SHA-256 of its bytes plus a suffix
(``"3fa1...e0.bin"``): the same bytes always get the same name and a name never changes meaning,
so a response may be cached for a year (``Cache-Control: ... immutable``) and is fetched once per
browser, not once per visit.

Nothing the client sends picks a file: a request names a key of this registry, checked against
:data:`NAME_PATTERN`, and anything else is a 404. Memory is bounded: unpinned blobs (decoder
weights, republished on demand by :mod:`ui.live`) are dropped least recently used first beyond
:data:`MAX_BLOBS` blobs or :data:`MAX_BYTES` bytes; pinned ones (the component's code, published
once at import) stay. Thread-safe: script threads publish while the server's threads read.

:func:`mounted` says whether the routes are there at all: ``serve.py``'s lifespan sets it. With
a plain ``streamlit run app.py`` (or Streamlit's AppTest) it stays false and :mod:`ui.live` sends
everything inline, as before.
"""
from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

PREFIX = "/_vae/assets"  # the URL path the routes are mounted under (serve.py)
CACHE_CONTROL = "public, max-age=31536000, immutable"
JS_TYPE = "application/javascript; charset=utf-8"
BINARY_TYPE = "application/octet-stream"
MAX_BLOBS = 16  # unpinned blobs kept at once...
MAX_BYTES = 64 * 2**20  # ...and their bytes (a decoder is at most 16 MB, the shipped ones 1-2 MB)
NAME_PATTERN = re.compile(r"[0-9a-f]{16}\.[a-z0-9]{1,8}")
SUFFIX_PATTERN = re.compile(r"\.[a-z0-9]{1,8}")


@dataclass(frozen=True)
class Blob:
    """One published blob: its bytes, content type and whether it is exempt from eviction."""

    data: bytes
    content_type: str
    pinned: bool


def name_for(data: bytes, suffix: str) -> str:
    """The name ``data`` is published under: 16 hex digits of its SHA-256, then ``suffix``."""
    if not SUFFIX_PATTERN.fullmatch(suffix):
        raise ValueError(f"a blob suffix is a dot and 1-8 lowercase letters or digits, not {suffix!r}")
    return hashlib.sha256(data).hexdigest()[:16] + suffix


class Registry:
    """Content-addressed blobs in memory, least recently used unpinned ones dropped first."""

    def __init__(self, max_blobs: int = MAX_BLOBS, max_bytes: int = MAX_BYTES) -> None:
        self.max_blobs, self.max_bytes = max_blobs, max_bytes
        self._blobs: OrderedDict[str, Blob] = OrderedDict()
        self._lock = threading.Lock()

    def publish(self, data: bytes, suffix: str, content_type: str, pinned: bool = False) -> str:
        """Keep ``data`` (served as ``content_type``) and return its name; publishing the same
        bytes again only marks them recently used (and pinned, if asked)."""
        name = name_for(data, suffix)
        with self._lock:
            old = self._blobs.pop(name, None)
            keep = pinned or (old is not None and old.pinned)
            self._blobs[name] = Blob(bytes(data), content_type, keep)
            self._evict(name)
        return name

    def get(self, name: str) -> tuple[bytes, str] | None:
        """(bytes, content type) of the blob ``name``, or None when there is none (any string is
        safe to ask about: it is only looked up)."""
        with self._lock:
            blob = self._blobs.get(name)
            if blob is None:
                return None
            self._blobs.move_to_end(name)
            return blob.data, blob.content_type

    def has(self, name: str) -> bool:
        """Whether ``name`` is published (without counting as a use)."""
        with self._lock:
            return name in self._blobs

    def names(self) -> list[str]:
        """Published names, least recently used first."""
        with self._lock:
            return list(self._blobs)

    def clear(self) -> None:
        with self._lock:
            self._blobs.clear()

    def _evict(self, newest: str) -> None:
        """Drop the least recently used unpinned blobs (never ``newest``) while over a bound."""
        def over() -> bool:
            loose = [b for b in self._blobs.values() if not b.pinned]
            return len(loose) > self.max_blobs or sum(len(b.data) for b in loose) > self.max_bytes

        while over():
            victim = next((n for n, b in self._blobs.items() if not b.pinned and n != newest), None)
            if victim is None:
                return
            del self._blobs[victim]


REGISTRY = Registry()
_mounted = threading.Event()


def publish(data: bytes, suffix: str, content_type: str, pinned: bool = False) -> str:
    """Publish ``data`` in the process's registry; returns its name (see :meth:`Registry.publish`)."""
    return REGISTRY.publish(data, suffix, content_type, pinned)


def get(name: str) -> tuple[bytes, str] | None:
    """(bytes, content type) of the published blob ``name``, or None."""
    return REGISTRY.get(name)


def has(name: str) -> bool:
    """Whether the blob ``name`` is published."""
    return REGISTRY.has(name)


def url(name: str) -> str:
    """The URL path the blob ``name`` is served at (absolute from the server's root)."""
    return f"{PREFIX}/{name}"


def set_mounted(on: bool) -> None:
    """Say whether this process serves the asset routes (serve.py's lifespan, and tests)."""
    if on:
        _mounted.set()
    else:
        _mounted.clear()


def mounted() -> bool:
    """Whether this process serves the asset routes (``streamlit run serve.py``)."""
    return _mounted.is_set()


def respond(name: str) -> tuple[int, bytes, dict[str, str]]:
    """What ``GET PREFIX/name`` answers: (status, body, headers). 200 with the blob, its content
    type and a year of immutable caching; 404 for a name that is malformed or not published."""
    found = get(name) if NAME_PATTERN.fullmatch(name) else None
    if found is None:
        return 404, b"not found", {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    data, content_type = found
    return 200, data, {"Content-Type": content_type, "Cache-Control": CACHE_CONTROL,
                       "X-Content-Type-Options": "nosniff"}
