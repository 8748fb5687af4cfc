"""Warm-up: the per-model work a first visit would otherwise do, done before anyone asks.

For each model version (path, mtime) it loads the checkpoint, exports the decoder for the
browser, encodes the test set, fits the Latent map's plane and the latent pad's background, and
scores the reference −ELBOs and anomaly scores behind Reconstruct's percentile, and exports the
encoder for Draw: the same cached
functions the pages call (:mod:`ui.state`, :mod:`ui.live`), so a page finds them done, or waits
on the computation already under way instead of starting another. One background thread works
through a queue: :func:`start` (serve.py's lifespan, when the server starts) queues the shipped
models, the default one first; :func:`request` (the catalog, when it lists a model version not
seen before) queues a new or retrained model. Nothing runs until :func:`start` was called, so a bare
``streamlit run app.py`` and the tests stay lazy.
"""
from __future__ import annotations

import contextlib
import os
import queue
import threading
import time

from streamlit.logger import get_logger

from services import export
from services.catalog import DEFAULT_MODEL, list_models

from . import draw, live, state

NICE = 10  # the warm-up thread yields the CPU to students' requests
_LOG = get_logger(__name__)  # Streamlit's logger: its format and --logger.level
_queue: queue.Queue[tuple[str, float, str, int]] = queue.Queue()
_seen: set[tuple[str, float]] = set()
_lock = threading.Lock()
_thread: threading.Thread | None = None
first_done = threading.Event()
done: list[tuple[str, float, float]] = []  # (path, mtime, seconds) per model warmed, for the log and tests


def running() -> bool:
    return _thread is not None


def start() -> threading.Event:
    """Start the warm-up thread (once per process) and queue the shipped models, default first.
    The event is set once the first of them (the default model) is loaded and exported for the
    browser (what the default page, Decode, needs), or failed to; the rest goes on after."""
    global _thread
    with _lock:
        if _thread is not None:
            return first_done
        _thread = threading.Thread(target=_work, name="vae-warm-up", daemon=True)
        _thread.start()
    entries, _ = list_models(actor=None)
    for entry in sorted(entries, key=lambda e: e.name != DEFAULT_MODEL):
        request(str(entry.path), entry.mtime, entry.dataset, entry.latent_dim)
    if not entries:
        first_done.set()
    return first_done


def request(path: str, mtime: float, dataset: str, latent_dim: int) -> None:
    """Queue a model version for warm-up, unless it was queued before or warm-up is off."""
    if _thread is None:
        return
    with _lock:
        if (path, mtime) in _seen:
            return
        _seen.add((path, mtime))
    _queue.put((path, mtime, dataset, latent_dim))


def warm_model(path: str, mtime: float, dataset: str, latent_dim: int) -> None:
    """Everything a first visit computes for this model version, through the pages' caches."""
    state.load_checkpoint(path, mtime)
    live.warm(path, mtime)
    first_done.set()  # what the default page (Decode) needs is ready: the server may open
    state.encoded(path, mtime, dataset)
    if latent_dim >= 2:
        state.pad_background(path, mtime, dataset, state.MAP_LOW, state.MAP_HIGH, state.PAD_POINTS)
    state.test_neg_elbos(path, mtime, dataset)
    state.test_anomaly_scores(path, mtime, dataset)
    draw.exported_encoder(path, mtime, export.MAX_PARAMS)  # Draw's in-browser encoder (50-80 ms)


def _work() -> None:
    with contextlib.suppress(OSError, AttributeError):  # Linux: a thread is a task with its own nice value
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    while True:
        path, mtime, dataset, latent_dim = _queue.get()
        start = time.perf_counter()
        try:
            warm_model(path, mtime, dataset, latent_dim)
        except Exception:  # a broken model or missing data shows on its pages; warm-up goes on
            _LOG.warning("warm-up of %s failed", path, exc_info=True)
            continue
        finally:
            first_done.set()
        done.append((path, mtime, time.perf_counter() - start))
        _LOG.info("warmed %s in %.2f s", path, done[-1][2])
