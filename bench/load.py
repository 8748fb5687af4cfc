"""Classroom load: simulated students on one app server, over Streamlit's websocket protocol.

    python bench/load.py                                   # steady, 10 students, 30 s, server started here
    python bench/load.py --scenario steady --sessions 30 --seconds 60
    python bench/load.py --scenario burst --sessions 30 --ramp 5
    python bench/load.py --scenario rounds --sessions 20
    python bench/load.py --url http://127.0.0.1:8501 --pid 1234   # a running server (RSS of that pid)

No browser: each student is a harness.loadclient.Student (a websocket session with a browser's
message cache, fetching every image a run shows). Scenarios:

* steady: ``--sessions`` students arrive within ``--ramp`` s, then for ``--seconds`` each visits
  the pages of its mix in turn (the ``--pages`` list, rotated per student), changing the page's
  number input or slider ``--changes`` times per visit, thinking ~``--think`` s (jittered)
  after every action.
* burst: on a freshly started server, students arrive within ``--ramp`` s and visit every page
  once without pausing: time to the first page shown, and to all pages shown.
* rounds: 3 rounds of ``--sessions`` students who open a page, change it, and leave; server
  RSS after each round.

Printed at the end: reruns/s, latency p50/p95/max overall and per page (request to
``script_finished`` plus the run's media fetched; a Reconstruct visit includes choosing a test
image), bytes per rerun (websocket + media), dropped sessions by reason, exception elements,
failed media fetches, and the server's RSS (peak while loaded, after all students left and
``--after-wait`` s passed, then after one more session came and went: Streamlit expires
disconnected sessions lazily, when another one is stored). Only 127.0.0.1/localhost targets.
The exit status is 1 when a session dropped, a media fetch failed or an exception was shown.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.browser import start_app, stop_app
from harness.loadclient import APP_PAGES, Dropped, Sample, Student, check_local


@dataclass
class Tally:
    """Everything the students report, gathered from their threads."""

    samples: list[Sample] = field(default_factory=list)
    dropped: collections.Counter = field(default_factory=collections.Counter)
    sessions: int = 0
    first_page: list[float] = field(default_factory=list)  # burst: arrival to first page shown
    all_pages: list[float] = field(default_factory=list)  # burst: arrival to every page shown
    rss_rounds: list[int | None] = field(default_factory=list)
    rss: dict[str, int | None] = field(default_factory=dict)
    cache_hits: int = 0
    cache_saved: int = 0
    elapsed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def drop(self, reason: str) -> None:
        with self.lock:
            self.dropped[reason] += 1

    @property
    def exceptions(self) -> int:
        return sum(s.exceptions for s in self.samples)

    @property
    def media_failed(self) -> int:
        return sum(s.media_failed for s in self.samples)


def rss_kb(pid: int | None, key: str = "VmRSS") -> int | None:
    """A memory figure (kB) of process ``pid`` from /proc/PID/status; None if unknown."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class RssPeak(threading.Thread):
    """Samples the server's VmRSS every ``every`` s until stopped; ``peak`` is the largest seen."""

    def __init__(self, pid: int | None, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, rss_kb(pid)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            now = rss_kb(self.pid)
            if now is not None:
                self.peak = max(self.peak or 0, now)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))] if s else float("nan")


def pause(rng: random.Random, think: float, deadline: float) -> None:
    """Think ~``think`` s (uniform in 0.5x..1.5x), never past ``deadline``."""
    time.sleep(max(0.0, min(think * rng.uniform(0.5, 1.5), deadline - time.monotonic())))


def student(args: argparse.Namespace, i: int) -> Student:
    rng = random.Random(args.seed * 100_003 + i)
    return Student(args.url, args.specs, rng, f"model={args.model}", args.timeout, cache=not args.no_cache)


def steady(args: argparse.Namespace, tally: Tally, i: int, deadline: float) -> None:
    """One student of the steady scenario: arrive, then visit/change/think until ``deadline``."""
    s = student(args, i)
    mix = args.pages[i % len(args.pages):] + args.pages[:i % len(args.pages)]
    time.sleep(args.ramp * i / max(1, args.sessions))
    try:
        for page in itertools.cycle(mix):
            for n in range(args.changes + 1):
                if time.monotonic() >= deadline:
                    return
                tally.add(s.visit(page) if n == 0 else s.change())
                pause(s.rng, args.think, deadline)
    except Dropped as exc:
        tally.drop(exc.reason)
    finally:
        _close(s, tally)


def burst(args: argparse.Namespace, tally: Tally, i: int, deadline: float) -> None:
    """One student of the burst scenario: arrive at a random time within the ramp, visit every page."""
    s = student(args, i)
    time.sleep(s.rng.uniform(0, args.ramp))
    start = time.monotonic()
    try:
        for n, page in enumerate(args.pages):
            if time.monotonic() >= deadline:
                return
            tally.add(s.visit(page))
            if n == 0:
                tally.first_page.append(time.monotonic() - start)
        tally.all_pages.append(time.monotonic() - start)
    except Dropped as exc:
        tally.drop(exc.reason)
    finally:
        _close(s, tally)


def visitor(args: argparse.Namespace, tally: Tally, i: int, deadline: float) -> None:
    """One student of a round: open a page of the mix, change it ``--changes`` times, leave."""
    s = student(args, i)
    try:
        tally.add(s.visit(args.pages[i % len(args.pages)]))
        for _ in range(args.changes):
            if time.monotonic() < deadline:
                tally.add(s.change())
    except Dropped as exc:
        tally.drop(exc.reason)
    finally:
        _close(s, tally)


def _close(s: Student, tally: Tally) -> None:
    with tally.lock:
        tally.sessions += 1
        if s.cache is not None:
            tally.cache_hits += s.cache.hits
            tally.cache_saved += s.cache.saved_bytes
    s.close()


def crowd(args: argparse.Namespace, tally: Tally, who: Callable, seconds: float) -> None:
    """Run ``--sessions`` students (``who(args, tally, i, deadline)``) in threads; every one stops
    by ``seconds`` from now (an action under way may take up to ``--timeout`` longer)."""
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=who, args=(args, tally, i, deadline), daemon=True)
               for i in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline + args.timeout + 10 - time.monotonic()))
    if any(t.is_alive() for t in threads):
        tally.drop("hung")


def after_rss(args: argparse.Namespace, tally: Tally, pid: int | None) -> None:
    """RSS once every student left and ``--after-wait`` s passed, then after one more short
    session (storing a disconnected session is when Streamlit drops the expired ones)."""
    if pid is None:
        return
    time.sleep(args.after_wait)
    tally.rss["after wait"] = rss_kb(pid)
    one = student(args, 10**6)
    with contextlib.suppress(Dropped):
        one.visit(args.pages[0])
    one.close()
    time.sleep(1.0)
    tally.rss["after one more session"] = rss_kb(pid)


def run(args: argparse.Namespace, pid: int | None = None, tally: Tally | None = None) -> Tally:
    """Run the scenario against ``args.url``; ``pid`` is the server's, for RSS (None: not read);
    results go to ``tally`` (a new one by default), which is returned."""
    tally, monitor = tally or Tally(), RssPeak(pid)
    tally.rss["start"] = rss_kb(pid)
    monitor.start()
    start = time.monotonic()
    if args.scenario == "steady":
        crowd(args, tally, steady, args.ramp + args.seconds)
    elif args.scenario == "burst":
        crowd(args, tally, burst, args.ramp + args.seconds)
    else:
        for _ in range(3):
            crowd(args, tally, visitor, args.seconds)
            time.sleep(1.0)
            tally.rss_rounds.append(rss_kb(pid))
    tally.elapsed = time.monotonic() - start
    monitor.done.set()
    tally.rss["peak"], tally.rss["VmHWM"] = monitor.peak, rss_kb(pid, "VmHWM")
    after_rss(args, tally, pid)
    return tally


def _ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50) * 1e3:6.0f} ms, p95 {percentile(values, 95) * 1e3:6.0f} ms, " \
           f"max {max(values, default=float('nan')) * 1e3:6.0f} ms"


def _mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f} MB"


def summary(args: argparse.Namespace, tally: Tally) -> list[str]:
    """The printed report, one line per measure."""
    samples, requests = tally.samples, sum(s.requests for s in tally.samples)
    ws, media = sum(s.ws_bytes for s in samples), sum(s.media_bytes for s in samples)
    per = max(1, requests)
    lines = [f"{args.scenario}: {args.sessions} sessions, pages {','.join(args.pages)}, model {args.model}, "
             f"message cache {'off' if args.no_cache else 'on'}, {tally.elapsed:.1f} s, "
             f"server {'started here' if args.started else args.url}",
             f"reruns: {requests} = {requests / max(tally.elapsed, 1e-9):.2f}/s; actions {len(samples)}: "
             + _ms([s.seconds for s in samples])]
    for page in args.pages:
        times = [s.seconds for s in samples if s.page == page]
        lines.append(f"  {page:<12} n={len(times):<4} {_ms(times)}")
    later = [s.seconds for s in samples if s.seq > 0]
    lines.append(f"  {'not first':<12} n={len(later):<4} {_ms(later)}  (each student's first action left out)")
    if tally.first_page or args.scenario == "burst":
        lines.append(f"first page shown: {_ms(tally.first_page)} (n={len(tally.first_page)})")
        lines.append(f"all {len(args.pages)} pages shown: {_ms(tally.all_pages)} (n={len(tally.all_pages)})")
    lines.append(f"bytes per rerun: {(ws + media) / per / 1024:.1f} kB (websocket {ws / per / 1024:.1f} kB + "
                 f"media {media / per / 1024:.1f} kB); cache references {tally.cache_hits}, "
                 f"{tally.cache_saved / 1024:.0f} kB not resent")
    lines.append(f"media files {sum(s.media_files for s in samples)}, failed {tally.media_failed}; "
                 f"exception elements {tally.exceptions}")
    drops = ", ".join(f"{k} {v}" for k, v in sorted(tally.dropped.items())) or "none"
    lines.append(f"sessions: {tally.sessions} ended, dropped: {drops}")
    if tally.rss_rounds:
        lines.append("server RSS after each round: " + ", ".join(_mb(kb) for kb in tally.rss_rounds))
    lines.append("server RSS: " + ", ".join(f"{k} {_mb(v)}" for k, v in tally.rss.items()))
    return lines


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", choices=("steady", "burst", "rounds"), default="steady")
    p.add_argument("--url", help="a running app (http://127.0.0.1:PORT); default: start one here")
    p.add_argument("--pid", type=int, help="with --url: the server's pid, to read its RSS")
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--seconds", type=float, default=30.0, help="steady: how long; burst/rounds: time limit")
    p.add_argument("--ramp", type=float, default=2.0, help="students arrive within this many seconds")
    p.add_argument("--think", type=float, default=2.0, help="pause after each action (jittered 0.5x-1.5x)")
    p.add_argument("--changes", type=int, default=2, help="widget changes per page visit")
    p.add_argument("--pages", default=",".join(APP_PAGES), help=f"page mix, from {','.join(APP_PAGES)}")
    p.add_argument("--model", default="mnist-2d")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    p.add_argument("--no-cache", action="store_true", help="students claim no cached messages")
    p.add_argument("--ttl", type=int, default=120, help="server.disconnectedSessionTTL of a server started here")
    p.add_argument("--after-wait", type=float, help="wait after all left, before reading RSS (default ttl + 5)")
    args = p.parse_args(argv)
    args.pages, args.specs = args.pages.split(","), APP_PAGES  # specs: name -> PageSpec (tests use their own)
    unknown = set(args.pages) - set(APP_PAGES)
    if unknown or args.sessions < 1:
        p.error(f"unknown pages {sorted(unknown)}" if unknown else "--sessions must be at least 1")
    if args.url:
        try:
            args.url = check_local(args.url)
        except ValueError as exc:
            p.error(str(exc))
    if args.after_wait is None:
        args.after_wait = args.ttl + 5.0
    return args


def _drain(proc, keep: collections.deque, counts: collections.Counter) -> None:
    """Read the server's output so its pipe never fills (a full pipe would stall the server);
    keep the last lines and count the tracebacks."""
    for line in proc.stdout:
        keep.append(line.rstrip())
        counts["Traceback"] += "Traceback" in line


def main(argv: list[str] | None = None) -> tuple[int, Tally]:
    """Parse, run, print; (exit status, tally)."""
    args = parse(argv)
    args.started = not args.url
    if args.url:
        tally = run(args, args.pid)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            proc, args.url = start_app({"VAE_USER_MODELS": f"{tmp}/models", "VAE_JOBS_DIR": f"{tmp}/jobs",
                                        "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(args.ttl)})
            log, counts = collections.deque(maxlen=20), collections.Counter()
            threading.Thread(target=_drain, args=(proc, log, counts), daemon=True).start()
            try:
                tally = run(args, proc.pid)
            finally:
                stop_app(proc)
            if counts["Traceback"]:
                print(f"server log: {counts['Traceback']} tracebacks; last lines:", *log, sep="\n  ")
    print("\n".join(summary(args, tally)), flush=True)
    return int(bool(sum(tally.dropped.values()) or tally.media_failed or tally.exceptions)), tally


if __name__ == "__main__":
    sys.exit(main()[0])
