"""What bench/load.py gathers and prints: the :class:`Tally` of one run, its report, the targets
it checks and, with ``--compare``, the ratios between two servers measured in the same run.

Latency is per student action: request to ``script_finished`` plus the run's media fetched.
Percentiles are nearest-rank. Targets (the issue "Classroom load") are checked only on the
scenario they are defined for, with the numbers measured in this run; the others are listed as
not measured, with the command that measures them.
"""
from __future__ import annotations

import argparse
import collections
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from harness.loadclient import Sample

MB = 1024  # kB


@dataclass
class Tally:
    """Everything the students report, gathered from their threads, and what the bench measured
    around them (server memory, the slider round trip under load)."""

    samples: list[Sample] = field(default_factory=list)
    dropped: collections.Counter = field(default_factory=collections.Counter)
    sessions: int = 0
    first_page: list[float] = field(default_factory=list)  # burst: arrival to first page shown
    all_pages: list[float] = field(default_factory=list)  # burst: arrival to every page shown
    rss_rounds: list[int | None] = field(default_factory=list)
    rss: dict[str, int | None] = field(default_factory=dict)
    cpu: dict[str, float | None] = field(default_factory=dict)  # CPU seconds used during the load, by whom
    idle_rss: tuple[int | None, int | None, int] | None = None  # (kB with 1 idle session, with n, n)
    slider: list[float] = field(default_factory=list)  # ms, Decode slider round trips under load
    slider_note: str = ""  # why there are none, or how many finished after the load
    server: str = ""  # which server, started from where
    tracebacks: int = 0  # in the output of a server started here
    cache_hits: int = 0
    cache_saved: int = 0
    elapsed: float = 0.0
    warmed: float | None = None  # steady: seconds the untimed warm-up visit (and quiet after it) took
    settled: float | None = None  # seconds waited for the server to go quiet before the load (None: no wait)
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

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.samples)

    def rate(self) -> float:
        """Reruns per second."""
        return self.requests / max(self.elapsed, 1e-9)

    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]

    def bytes_per_rerun(self) -> tuple[float, float, float]:
        """(websocket, media, assets) bytes per rerun."""
        per = max(1, self.requests)
        return (sum(s.ws_bytes for s in self.samples) / per, sum(s.media_bytes for s in self.samples) / per,
                sum(s.asset_bytes for s in self.samples) / per)

    def mb_per_idle_session(self) -> float | None:
        if not self.idle_rss or None in self.idle_rss[:2] or self.idle_rss[2] < 2:
            return None
        one, many, n = self.idle_rss
        return (many - one) / MB / (n - 1)

    def round_growth_mb(self) -> float | None:
        """RSS after the last round minus after the first, MB."""
        known = [kb for kb in self.rss_rounds if kb is not None]
        return (known[-1] - known[0]) / MB if len(known) >= 2 else None


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))] if s else float("nan")


def _ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50) * 1e3:6.0f} ms, p95 {percentile(values, 95) * 1e3:6.0f} ms, " \
           f"max {max(values, default=float('nan')) * 1e3:6.0f} ms"


def _mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / MB:.0f} MB"


def summary(args: argparse.Namespace, tally: Tally) -> list[str]:
    """The printed report, one line per measure."""
    samples, requests = tally.samples, tally.requests
    ws, media, asset = tally.bytes_per_rerun()
    lines = [f"{args.scenario}: {args.sessions} sessions, pages {','.join(args.pages)}, model {args.model}, "
             f"think {args.think:g} s, message cache {'off' if args.no_cache else 'on'}, {tally.elapsed:.1f} s, "
             f"server {tally.server or args.url}",
             f"reruns: {requests} = {tally.rate():.2f}/s ({sum(s.fragment_runs for s in samples)} of one "
             f"fragment); actions {len(samples)}: " + _ms(tally.seconds())]
    for page in args.pages:
        times = [s.seconds for s in samples if s.page == page]
        lines.append(f"  {page:<12} n={len(times):<4} {_ms(times)}")
    later = [s.seconds for s in samples if s.seq > 0]
    lines.append(f"  {'not first':<12} n={len(later):<4} {_ms(later)}  (each student's first action left out)")
    if tally.first_page or args.scenario == "burst":
        lines.append(f"first page shown: {_ms(tally.first_page)} (n={len(tally.first_page)})")
        lines.append(f"all {len(args.pages)} pages shown: {_ms(tally.all_pages)} (n={len(tally.all_pages)})")
    lines.append(f"bytes per rerun: {(ws + media + asset) / 1024:.1f} kB (websocket {ws / 1024:.1f} kB + media "
                 f"{media / 1024:.1f} kB + assets {asset / 1024:.1f} kB); cache references {tally.cache_hits}, "
                 f"{tally.cache_saved / 1024:.0f} kB not resent")
    lines.append(f"media files {sum(s.media_files for s in samples)}, assets {sum(s.asset_files for s in samples)} "
                 f"(once per student), failed {tally.media_failed}; "
                 f"exception elements {tally.exceptions}; server tracebacks {tally.tracebacks}")
    if args.scenario != "burst" and args.settle > 0:
        lines.append(f"before the load: server quiet after {tally.settled:.0f} s" if tally.settled is not None
                     else f"before the load: server not quiet within {args.settle:g} s (or no pid), started anyway")
    if tally.warmed is not None:
        lines.append(f"before the load: one untimed student visited every page ({tally.warmed:.1f} s)")
    drops = ", ".join(f"{k} {v}" for k, v in sorted(tally.dropped.items())) or "none"
    lines.append(f"sessions: {tally.sessions} ended, dropped: {drops}")
    return lines + _slider_lines(tally) + _memory_lines(tally)


def _slider_lines(tally: Tally) -> list[str]:
    if not tally.slider:
        return [f"slider round trip under load: not measured ({tally.slider_note or 'off'})"]
    return [f"slider round trip under load (Chromium, Decode page, keydown -> new strip image): "
            f"{_ms([v / 1e3 for v in tally.slider])} over {len(tally.slider)} steps"
            + (f"; {tally.slider_note}" if tally.slider_note else "")]


def _memory_lines(tally: Tally) -> list[str]:
    lines = []
    if tally.idle_rss:
        one, many, n = tally.idle_rss
        per = tally.mb_per_idle_session()
        lines.append(f"idle sessions (each visited every page): RSS with 1 {_mb(one)}, with {n} {_mb(many)}: "
                     + ("n/a" if per is None else f"{per:.2f} MB per extra idle session"))
    if tally.rss_rounds:
        growth = tally.round_growth_mb()
        lines.append("server RSS after each round (sessions gone): " + ", ".join(_mb(kb) for kb in tally.rss_rounds)
                     + ("" if growth is None else f"; growth last - first round {growth:+.1f} MB"))
    lines.append("server RSS: " + ", ".join(f"{k} {_mb(v)}" for k, v in tally.rss.items()))
    if tally.cpu:
        lines.append(f"CPU during the load ({os.cpu_count()} cores here), in cores: " + ", ".join(
            f"{k} {'n/a' if v is None else f'{v / max(tally.elapsed, 1e-9):.2f}'}" for k, v in tally.cpu.items()))
    return lines


class Target(NamedTuple):
    """One target of the issue: where it applies, what it limits and how it is measured."""

    scenario: str
    sessions: int | None  # the class size it is defined for; None: any
    label: str
    value: Callable[[Tally], float | None]
    ok: Callable[[float], bool]
    show: Callable[[float], str]


def _p95_s(t: Tally) -> float:
    return percentile(t.seconds(), 95)


def _ms_text(v: float) -> str:
    return f"{v * 1e3:.0f} ms"


def _s_text(v: float) -> str:
    return f"{v:.2f} s"


def _count(v: float) -> str:
    return f"{v:.0f}"


TARGETS = [
    Target("steady", 30, "p95 <= 500 ms", _p95_s, lambda v: v <= 0.5, _ms_text),
    Target("steady", 30, "max <= 2 s", lambda t: max(t.seconds(), default=math.nan), lambda v: v <= 2.0, _s_text),
    Target("steady", 30, "0 failed/dropped sessions (media fetches count)",
           lambda t: sum(t.dropped.values()) + t.media_failed, lambda v: v == 0, _count),
    Target("steady", 30, "0 exceptions shown", lambda t: t.exceptions, lambda v: v == 0, _count),
    Target("steady", 10, "p95 <= 150 ms", _p95_s, lambda v: v <= 0.15, _ms_text),
    Target("burst", None, "first page p95 <= 3 s", lambda t: percentile(t.first_page, 95), lambda v: v <= 3, _s_text),
    Target("burst", None, "all pages p95 <= 6 s", lambda t: percentile(t.all_pages, 95), lambda v: v <= 6, _s_text),
    Target("burst", None, "none failed to connect", lambda t: t.dropped["connect"], lambda v: v == 0, _count),
    Target("rounds", None, "per idle session < 5 MB", Tally.mb_per_idle_session, lambda v: v < 5,
           lambda v: f"{v:.2f} MB"),
    Target("rounds", None, "no growth across 3 rounds (< 5 MB)", Tally.round_growth_mb, lambda v: v < 5,
           lambda v: f"{v:+.1f} MB"),
]


def targets(args: argparse.Namespace, tally: Tally) -> list[str]:
    """PASS/MISS for each target defined for this scenario and class size, with the value measured;
    the other targets in one line each per scenario, with the options that measure them."""
    lines = [f"targets ({args.scenario}, {args.sessions} sessions, think {args.think:g} s):"]
    elsewhere: dict[str, list[str]] = {}
    for t in TARGETS:
        if t.scenario != args.scenario or t.sessions not in (None, args.sessions):
            need = f"--scenario {t.scenario}" + ("" if t.sessions is None else f" --sessions {t.sessions}")
            elsewhere.setdefault(need, []).append(t.label)
            continue
        value = t.value(tally)
        measured = value is not None and not math.isnan(value)
        verdict = "PASS" if measured and t.ok(value) else "MISS"
        lines.append(f"  {verdict} {t.label}: {t.show(value) if measured else 'not measured'}")
    if tally.slider:
        lines.append(f"  info slider round trip under load: p95 {percentile(tally.slider, 95):.0f} ms "
                     "(the idle target, p95 <= 75 ms, is measured by bench/app_latency.py)")
    return lines + [f"  not measured here ({need}): {'; '.join(labels)}" for need, labels in elsewhere.items()]


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "n/a"


def compare(base: Tally, branch: Tally) -> list[str]:
    """Ratios between the base server's run and the branch's, same scenario and seeds."""
    p50 = [percentile(t.seconds(), 50) for t in (base, branch)]
    p95 = [percentile(t.seconds(), 95) for t in (base, branch)]
    per = [sum(t.bytes_per_rerun()) / 1024 for t in (base, branch)]
    lines = ["compare (above 1: the branch does better, except bytes: branch/base):",
             f"  base:   {base.server}", f"  branch: {branch.server}",
             f"  reruns/s branch/base {_ratio(branch.rate(), base.rate())} "
             f"({branch.rate():.2f} vs {base.rate():.2f})",
             f"  p50 base/branch {_ratio(*p50)} ({p50[0] * 1e3:.0f} vs {p50[1] * 1e3:.0f} ms); "
             f"p95 base/branch {_ratio(*p95)} ({p95[0] * 1e3:.0f} vs {p95[1] * 1e3:.0f} ms)",
             f"  bytes per rerun: base {per[0]:.1f} kB, branch {per[1]:.1f} kB, branch/base {_ratio(per[1], per[0])}"]
    if base.slider and branch.slider:
        s95 = [percentile(t.slider, 95) for t in (base, branch)]
        lines.append(f"  slider round trip under load p95 base/branch {_ratio(*s95)} "
                     f"({s95[0]:.0f} vs {s95[1]:.0f} ms)")
    idle = [t.mb_per_idle_session() for t in (base, branch)]
    if None not in idle:
        lines.append(f"  MB per idle session: base {idle[0]:.2f}, branch {idle[1]:.2f}")
    return lines
