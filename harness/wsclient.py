"""A minimal client of Streamlit's websocket protocol, for server tests and load benches.

It speaks to a running ``streamlit run app.py`` the way the browser does, without a browser:

1. Connect to ``ws://HOST:PORT/_stcore/stream`` with the websocket subprotocol ``streamlit``
   (the browser puts an XSRF token and a session id to resume after it in the same header;
   a new session needs neither). The server opens a session and waits.
2. Ask for a run: a binary ``BackMsg`` with ``rerun_script`` (a ``ClientState``):
   ``query_string`` (without ``?``), ``page_name`` (the page's URL path, e.g. ``"morph"``; empty
   for the default page) on the first request, later the ``page_script_hash`` the server named,
   and ``widget_states``: one ``WidgetState`` per widget the client has a value for (only those
   it sends are changed; the server keeps the others).
3. Read binary ``ForwardMsg`` frames until ``script_finished``. A run begins with
   ``new_session`` (its ``page_script_hash``); ``navigation`` names the page shown and lists
   the pages (``url_pathname``, ``page_script_hash``); each ``delta`` puts one element
   (``new_element``, a ``streamlit.proto.Element_pb2.Element``) or container (``add_block``)
   at ``metadata.delta_path``. A status of ``FINISHED_EARLY_FOR_RERUN`` means the script
   called ``st.rerun()`` (or a newer request replaced it): another run follows, so keep reading.
4. For the next run, send ``rerun_script`` again with the changed widget states. A widget is
   addressed by the ``id`` of its element (``$$ID-<hash>-<key>`` for a keyed widget), and its
   value goes in the field its kind uses: see :func:`widget_state`. Triggers (buttons,
   ``json_trigger_value``) count for one run only, so they are not kept for the next request.

Message cache (optional, :class:`MessageCache`, as the browser's ``ForwardMsgCache``): the
server hashes every ForwardMsg (``hash``, over the message without its metadata) and marks a
``new_element`` delta of at least ``global.minCachedMessageSize`` (10 kB) serialized as
``metadata.cacheable``. The browser keeps cacheable messages and lists their hashes in every
``rerun_script`` (``cached_message_hashes``); for a cacheable message whose hash is listed,
the server sends only a reference (``ref_hash``, with the real message's metadata: its
delta path) and the browser puts the cached message there. After each run that ends for good
the browser ages its entries and drops those unused for more than ``max_cached_message_age``
runs (from ``new_session.config``; 2 by default), fragment runs included; after a fragment run
only entries of the fragments that ran can expire (the frontend's ``ForwardMsgCache``). Without a
cache the client claims nothing, and a reference is an error.

Fragments (``@st.fragment``), as the browser: every delta written inside a fragment carries its
``fragment_id``; a widget's fragment is that of the delta that carried its element
(:meth:`Run.fragment_of`). Changing such a widget sends ``rerun_script.fragment_id``
(:meth:`Session.rerun`): the server runs only that fragment, still opening it with
``new_session`` (``metadata.run.fragment_ids`` names the fragments that run) and ending it with
``FINISHED_FRAGMENT_RUN_SUCCESSFULLY``. It sends only the fragment's deltas, so the client keeps
the rest of the page it knew and drops what the fragment owned and did not redraw (the
frontend's stale-node rule, as ``streamlit/runtime/agent/interaction.py`` applies it): the
fragment's older elements and everything older under a container the fragment wrote. A
``fragment_id`` the server no longer holds (a full run dropped it) is ignored: no reply comes
and the request times out. Used by tests/e2e/test_e2e_tampered.py and harness/loadclient.py.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import ClientConnection, connect

STREAM_PATH = "/_stcore/stream"
SUBPROTOCOL = "streamlit"
DONE = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
        ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
_TRIGGER_FIELDS = ("trigger_value", "json_trigger_value", "string_trigger_value")
TRIGGER_PREFIX = "$$STREAMLIT_INTERNAL_KEY"  # a bidi component's triggers: f"{PREFIX}_{id}__events"


DeltaPath = tuple[int, ...]  # an element's or container's place on the page


@dataclass
class Run:
    """What the server rendered in one completed run: the page's elements by delta path, in
    arrival order. After a fragment run, ``elements`` is the page as a browser shows it (what the
    fragment drew and the rest of the page from before); ``received`` names what this run sent."""

    elements: dict[DeltaPath, Element] = field(default_factory=dict)
    fragments: dict[DeltaPath, str] = field(default_factory=dict)  # element path -> fragment id ("" outside)
    blocks: dict[DeltaPath, str] = field(default_factory=dict)  # container (add_block) path -> fragment id
    received: set[DeltaPath] = field(default_factory=set)  # element paths this run sent
    fragment_ids: tuple[str, ...] = ()  # the fragments this run ran; empty for a whole-page run
    page_script_hash: str = ""
    status: int | None = None
    messages: int = 0  # ForwardMsgs read for this request
    seconds: float = 0.0  # from sending the request to the run's end
    bytes: int = 0  # websocket payload bytes read for this request
    refs: int = 0  # messages that came as references to the client's message cache

    def add_element(self, path: DeltaPath, element: Element, fragment_id: str) -> None:
        self.elements[path], self.fragments[path] = element, fragment_id
        self.received.add(path)

    def add_block(self, path: DeltaPath, fragment_id: str) -> None:
        """A container written at ``path`` replaces what this run put at and below it."""
        for old in [p for p in self.elements if p[:len(path)] == path]:
            del self.elements[old], self.fragments[old]
            self.received.discard(old)
        self.blocks[path] = fragment_id

    def keep_from(self, before: Run) -> None:
        """After a fragment run: add what the page ``before`` showed that this run's fragments
        did not own (their older elements, and anything older under a container they wrote)."""
        running = set(self.fragment_ids)
        replaced = {p for p, f in (*before.blocks.items(), *self.blocks.items()) if f in running}

        def stale(path: DeltaPath, fragment_id: str) -> bool:
            return fragment_id in running or any(path[:d] in replaced for d in range(1, len(path) + 1))

        kept = [p for p in before.elements if p not in self.elements and not stale(p, before.fragments[p])]
        self.elements = {**{p: before.elements[p] for p in kept}, **self.elements}
        self.fragments = {**{p: before.fragments[p] for p in kept}, **self.fragments}
        self.blocks = {**{p: f for p, f in before.blocks.items() if p not in self.blocks and not stale(p, f)},
                       **self.blocks}

    def of_type(self, kind: str) -> list[Any]:
        """The payloads of every element of ``kind`` (e.g. ``"number_input"``, ``"exception"``)."""
        return [getattr(el, kind) for el in self.elements.values() if el.WhichOneof("type") == kind]

    def new_of_type(self, kind: str) -> list[Any]:
        """Like :meth:`of_type`, only the elements this run sent (all of them for a whole-page run)."""
        return [getattr(el, kind) for p, el in self.elements.items() if p in self.received
                and el.WhichOneof("type") == kind]

    def widgets(self) -> list[tuple[str, Any]]:
        """(kind, payload) of every element that has a widget id, in delta-path order."""
        return [(kind, payload) for _, kind, payload in self._widgets()]

    def _widgets(self) -> list[tuple[DeltaPath, str, Any]]:
        out = []
        for path in sorted(self.elements):
            kind = self.elements[path].WhichOneof("type")
            payload = getattr(self.elements[path], kind) if kind else None
            if getattr(payload, "id", ""):
                out.append((path, kind, payload))
        return out

    def _find(self, key: str | None, label: str | None) -> tuple[DeltaPath, str, Any]:
        def wanted(p: Any) -> bool:
            return p.id.endswith(f"-{key}") if key is not None else getattr(p, "label", None) == label

        found = [w for w in self._widgets() if wanted(w[2])]
        if len(found) != 1:
            raise KeyError(f"expected one widget with key {key!r} / label {label!r}, found {len(found)}")
        return found[0]

    def widget(self, key: str | None = None, label: str | None = None) -> tuple[str, Any]:
        """(kind, payload) of the one widget with the user ``key`` (its id ends in ``-key``)
        or, for a widget without a key, the ``label``."""
        return self._find(key, label)[1:]

    def fragment_of(self, key: str | None = None, label: str | None = None) -> str:
        """The fragment id of the widget (found as by :meth:`widget`); "" outside any fragment."""
        return self.fragments[self._find(key, label)[0]]

    def component(self, key: str) -> tuple[Any, dict[str, Any]]:
        """(payload, data) of the one st.components.v2 element keyed ``key``: data is the JSON
        the component was given."""
        kind, proto = self.widget(key)
        assert kind == "bidi_component", f"{key} is a {kind}"
        return proto, json.loads(proto.json or "null")

    def exceptions(self) -> list[str]:
        """``type: message`` of every exception element (an uncaught error; with the app's
        ``client.showErrorDetails = "none"`` both are redacted)."""
        return [f"{e.type}: {e.message}" for e in self.of_type("exception")]

    def texts(self) -> list[str]:
        """Every markdown body, alert body and image caption: the text a user reads."""
        out = [m.body for m in self.of_type("markdown")] + [a.body for a in self.of_type("alert")]
        return out + [img.caption for im in self.of_type("imgs") for img in im.imgs]


def widget_state(kind: str, proto: Any, value: Any) -> WidgetState:
    """The ``WidgetState`` a browser would send to set the widget (``kind``, ``proto`` as in
    :meth:`Run.widget`) to ``value``, in the field that kind of widget uses on the wire:
    number_input: ``int_value`` or ``double_value`` by its data type; slider: ``double_array_value``;
    selectbox, radio: ``string_value`` (the option as shown, i.e. after format_func);
    checkbox, toggle: ``bool_value``; button: ``trigger_value``."""
    state = WidgetState(id=proto.id)
    if kind == "number_input":
        if proto.data_type == NumberInput.INT and isinstance(value, int):
            state.int_value = value
        else:
            state.double_value = float(value)
    elif kind == "slider":
        state.double_array_value.data.extend(float(v) for v in (value if isinstance(value, list | tuple) else [value]))
    elif kind in ("selectbox", "radio"):
        state.string_value = str(value)
    elif kind == "checkbox":
        state.bool_value = bool(value)
    elif kind == "button":
        state.trigger_value = bool(value)
    else:
        raise ValueError(f"no wire encoding known here for a {kind}")
    return state


def component_state(proto: Any, values: dict[str, Any]) -> WidgetState:
    """A components.v2 element's state, as the browser's ``setStateValue`` sends it: the whole
    state object (every name set so far) as ``json_value``."""
    return WidgetState(id=proto.id, json_value=json.dumps(values))


def component_trigger(proto: Any, event: str, value: Any) -> WidgetState:
    """One components.v2 trigger, as the browser's ``setTriggerValue(event, value)`` sends it: a
    list of events as ``json_trigger_value`` of the element's internal ``__events`` widget."""
    return WidgetState(id=f"{TRIGGER_PREFIX}_{proto.id}__events",
                       json_trigger_value=json.dumps([{"event": event, "value": value}]))


class CacheMiss(RuntimeError):
    """The server referred to a message the client's cache does not hold."""


class MessageCache:
    """A browser's ForwardMsg cache (Streamlit's frontend ``ForwardMsgCache``): see the module
    docstring. ``hits``/``saved_bytes`` count references resolved and the bytes not resent."""

    def __init__(self) -> None:
        # hash -> (encoded message, run count when last used, fragment id of its delta or "")
        self.entries: dict[str, tuple[bytes, int, str]] = {}
        self.runs = 0
        self.max_age = 2
        self.hits = 0
        self.saved_bytes = 0

    def hashes(self) -> list[str]:
        """What a rerun request claims the client holds."""
        return list(self.entries)

    def process(self, fwd: ForwardMsg, data: bytes) -> ForwardMsg:
        """Keep ``fwd`` if cacheable; resolve a reference to the cached message (with the
        reference's metadata). Raises :class:`CacheMiss` for an unknown reference."""
        if fwd.WhichOneof("type") == "ref_hash":
            entry = self.entries.get(fwd.ref_hash)
            if entry is None:
                raise CacheMiss(f"the server referred to message {fwd.ref_hash}, which is not in the cache")
            self.entries[fwd.ref_hash] = (entry[0], self.runs, entry[2])
            full = ForwardMsg()
            full.ParseFromString(entry[0])
            full.metadata.CopyFrom(fwd.metadata)
            self.hits += 1
            self.saved_bytes += len(entry[0]) - len(data)
            return full
        if fwd.metadata.cacheable and fwd.hash:
            old = self.entries.get(fwd.hash)
            fragment_id = fwd.delta.fragment_id if fwd.WhichOneof("type") == "delta" else ""
            self.entries[fwd.hash] = (data, self.runs, fragment_id) if old is None else (old[0], self.runs, old[2])
        return fwd

    def run_finished(self, fragment_ids: Iterable[str] = ()) -> None:
        """A run ended for good: age the entries, drop those unused for more than ``max_age``
        runs; after a fragment run (``fragment_ids``) only entries of those fragments can go."""
        self.runs += 1
        running = set(fragment_ids)
        self.entries = {h: e for h, e in self.entries.items()
                        if (running and e[2] not in running) or self.runs - e[1] <= self.max_age}


class Session:
    """One app session over one websocket, used from one thread: :meth:`open`, then :meth:`rerun`.

    ``base_url`` is the app's http URL (``http://127.0.0.1:8501``); ``page`` the URL path of a page
    (``"morph"``, empty for the default one); ``query`` the query string without ``?``;
    ``cache`` a :class:`MessageCache` to behave as a browser with its message cache; ``headers``
    extra handshake headers (a browser's ``Cookie``, e.g. a load balancer's sticky cookie)."""

    def __init__(self, base_url: str, page: str = "", query: str = "", timeout: float = 90.0,
                 cache: MessageCache | None = None, headers: dict[str, str] | None = None) -> None:
        self.url = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/") + STREAM_PATH
        self.page, self.query, self.timeout = page, query, timeout
        self.page_script_hash = ""
        self.pages: dict[str, str] = {}  # url_pathname -> page_script_hash
        self.states: dict[str, WidgetState] = {}
        self.last: Run | None = None
        self.cache = cache
        self.headers = dict(headers or {})
        self._ws: ClientConnection | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> Run:
        """Connect and run the page, as a browser does on load."""
        self._ws = self._stack.enter_context(
            connect(self.url, subprotocols=[SUBPROTOCOL], max_size=None, open_timeout=self.timeout,
                    additional_headers=self.headers or None))
        return self._request(page_name=self.page)

    def rerun(self, states: Iterable[WidgetState] = (), fragment_id: str = "") -> Run:
        """Run the page again after changing the widgets in ``states``; returns the completed run.
        With ``fragment_id`` (that of the changed widget, :meth:`fragment_of`) only that fragment
        runs, as when a browser user changes a widget inside an ``@st.fragment``."""
        sent = list(states)
        for s in sent:
            if s.WhichOneof("value") not in _TRIGGER_FIELDS:
                self.states[s.id] = s
        sent_ids = {s.id for s in sent}
        persistent = [s for s in self.states.values() if s.id not in sent_ids]
        return self._request(widgets=[*persistent, *sent], fragment_id=fragment_id)

    def fragment_of(self, key: str) -> str:
        """The fragment id of the last run's widget with ``key`` ("" outside any fragment)."""
        assert self.last is not None, "open() first"
        return self.last.fragment_of(key)

    def goto(self, page: str) -> Run:
        """Navigate to another page (its URL path, as in :attr:`pages`) in the same session,
        as the browser does on a click in the navigation: the page's widgets start afresh."""
        self.page, self.page_script_hash = page, self.pages[page]
        self.states.clear()
        return self._request(page_name=page)

    def set(self, **values: Any) -> Run:
        """Rerun with the widgets of the last run whose keys are given set to these values
        (``set(morph_steps=3_000_000)``)."""
        assert self.last is not None, "open() first"
        return self.rerun(widget_state(*self.last.widget(key), value) for key, value in values.items())

    def close(self) -> None:
        self._ws = None
        self._stack.close()

    def _request(self, page_name: str = "", widgets: Iterable[WidgetState] = (), fragment_id: str = "") -> Run:
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_script_hash = self.page_script_hash
        msg.rerun_script.page_name = page_name
        msg.rerun_script.widget_states.widgets.extend(widgets)
        msg.rerun_script.fragment_id = fragment_id
        if self.cache is not None:
            msg.rerun_script.cached_message_hashes.extend(self.cache.hashes())
        assert self._ws is not None, "open() first"
        start, before = time.monotonic(), self.last
        self._ws.send(msg.SerializeToString())
        run = self._collect()
        if run.fragment_ids and before is not None:
            run.keep_from(before)
        run.seconds, self.last = time.monotonic() - start, run
        return run

    def _collect(self) -> Run:
        """Read messages until a run finishes for good (not early, for a rerun)."""
        run, started = Run(), False
        for fwd, size, ref in self._messages():
            run.messages, run.bytes, run.refs = run.messages + 1, run.bytes + size, run.refs + ref
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                run = Run(page_script_hash=fwd.new_session.page_script_hash, messages=run.messages,
                          bytes=run.bytes, refs=run.refs, fragment_ids=tuple(fwd.metadata.run.fragment_ids))
                started = True
                if self.cache is not None and fwd.new_session.config.max_cached_message_age:
                    self.cache.max_age = fwd.new_session.config.max_cached_message_age
            elif kind == "navigation":
                self.page_script_hash = run.page_script_hash = fwd.navigation.page_script_hash
                self.pages = {p.url_pathname: p.page_script_hash for p in fwd.navigation.app_pages}
            elif kind == "delta":
                self._delta(run, fwd)
            elif kind == "ref_hash":
                raise RuntimeError("the server sent a cached-message reference, though the client claimed none")
            elif kind == "script_finished":
                run.status = fwd.script_finished
                if self.cache is not None and started and fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    self.cache.run_finished(run.fragment_ids)  # as the browser: after a new_session since the request
                if fwd.script_finished in DONE:
                    return run
        raise AssertionError("unreachable")

    @staticmethod
    def _delta(run: Run, fwd: ForwardMsg) -> None:
        path, kind = tuple(fwd.metadata.delta_path), fwd.delta.WhichOneof("type")
        if kind == "new_element":
            run.add_element(path, fwd.delta.new_element, fwd.delta.fragment_id)
        elif kind == "add_block":
            run.add_block(path, fwd.delta.fragment_id)

    def _messages(self) -> Iterator[tuple[ForwardMsg, int, bool]]:
        """(message, its size on the wire, whether it came as a cache reference), references
        resolved through the cache."""
        assert self._ws is not None, "open() first"
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no finished run within {self.timeout:.0f} s")
            data = self._ws.recv(timeout=left)
            if isinstance(data, str):
                raise ValueError("the server sent a text frame; Streamlit sends binary protobufs")
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            ref = fwd.WhichOneof("type") == "ref_hash"
            if self.cache is not None:
                fwd = self.cache.process(fwd, data)
            yield fwd, len(data), ref
