"""Classroom load: simulated students on one app server, over Streamlit's websocket protocol.

    python bench/load.py                                   # steady, 10 students, 30 s, server started here
    python bench/load.py --scenario steady --sessions 30 --seconds 60
    python bench/load.py --scenario steady --sessions 30 --think 0   # saturation: no pause between actions
    python bench/load.py --scenario burst --sessions 30 --ramp 5
    python bench/load.py --scenario rounds --sessions 30   # memory: per idle session, growth over rounds
    python bench/load.py --scenario steady --sessions 30 --compare /tmp/base   # base checkout, then this one
    python bench/load.py --url http://127.0.0.1:8501 --pid 1234   # a running server (RSS of that pid)
    python bench/load.py --scenario steady --sessions 30 --replicas 2   # through nginx, 2 replicas

No browser for the students: each is a harness.loadclient.Student (a websocket session with a
browser's message cache, fetching every image a run sends; a widget inside an ``@st.fragment``
reruns only its fragment, as in the browser). Scenarios:

* steady: once the server is quiet (``--settle``) and one untimed student visited every page
  (unless ``--no-warm``: the server's caches warm), ``--sessions`` students arrive within
  ``--ramp`` s, then for ``--seconds`` each visits the pages of its mix in turn (the ``--pages``
  list, rotated per student), changing the page's number input or slider ``--changes`` times per
  visit, thinking ~``--think`` s (jittered) after every action (``--think 0``: no pause: saturation).
* burst: on a freshly started server (no ``--settle``), students arrive within ``--ramp`` s and
  visit every page once without pausing: time to the first page shown, and to all pages shown.
* rounds: once the server is quiet, 3 rounds (after one to warm up) of ``--sessions`` students who
  open a page, change it, and leave, with the server's RSS after each round once the sessions expired
  (``--after-wait`` s, then one more short session: Streamlit drops expired sessions when it
  stores another); then ``--sessions`` idle sessions, each having visited every page: RSS with
  one of them connected and with all, i.e. MB per extra idle session. A server started here
  keeps disconnected sessions ``--ttl`` s (rounds: 10, else 120, Streamlit's default).

While steady or burst runs, a real Chromium (harness.sliderprobe) steps the Decode page's
slider ``--slider-steps`` times, bench/app_latency.py's round trip (keydown to the server's new
strip image), when Chromium and playwright are installed.

Printed at the end: reruns/s (and how many ran one fragment), latency p50/p95/max overall and per
page (request to ``script_finished`` plus the run's media fetched; a Reconstruct visit includes
choosing a test image), bytes per rerun (websocket + media + assets), dropped sessions by reason,
exception elements, failed media fetches, the slider round trip under load, the server's RSS
(peak while loaded, after all students left and ``--after-wait`` s passed, then after one more
session came and went), and PASS/MISS for each target defined for the scenario run. With
``--compare DIR`` (a checkout of another version, e.g. ``git worktree add --detach /tmp/base
COMMIT``) the same scenario, seeds and sessions run first against a server started from DIR
(its own packages: DIR is its working directory and first on PYTHONPATH), then against this
checkout's, each server started and stopped here; both reports print, then their ratios. Only
127.0.0.1/localhost targets. The exit status is 1 when a session dropped, a media fetch failed
or an exception was shown.

With ``--replicas N`` the scenario runs through nginx in front of N replicas of this checkout
(deploy/run_local.sh, started here by harness/deploy.py): student i sends the sticky cookie of
replica i mod N on its websocket and fetches, the warm-up visits every replica, server memory and
CPU are summed over the replicas (the CPU line also shows nginx's, this bench's and the whole
machine's: anything else running shows there).
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import deploy, loadserver
from harness.loadclient import APP_PAGES, Dropped, Student, check_local
from harness.loadreport import Tally, compare, summary, targets
from harness.loadserver import ROOT, RssPeak, describe, entry_script, imports_from, rss_kb, start_server, wait_quiet
from harness.sliderprobe import SliderProbe


def pause(rng: random.Random, think: float, deadline: float) -> None:
    """Think ~``think`` s (uniform in 0.5x..1.5x), never past ``deadline``."""
    time.sleep(max(0.0, min(think * rng.uniform(0.5, 1.5), deadline - time.monotonic())))


def student(args: argparse.Namespace, i: int) -> Student:
    """Student ``i``: its own seeded choices; behind a balancer, the sticky cookie of replica i mod N."""
    rng = random.Random(args.seed * 100_003 + i)
    cookie = deploy.spread(args.cookies, i)
    return Student(args.url, args.specs, rng, f"model={args.model}", args.timeout, cache=not args.no_cache,
                   headers=deploy.cookie_header(cookie) if cookie else None)


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


def _one_more(args: argparse.Namespace, pid: loadserver.Pids) -> int | None:
    """Wait ``--after-wait`` s, let one more short session come and go (storing it is when
    Streamlit drops the expired ones), then read the server's RSS."""
    time.sleep(args.after_wait)
    one = student(args, 10**6)
    with contextlib.suppress(Dropped):
        one.visit(args.pages[0])
    one.close()
    time.sleep(1.0)
    return rss_kb(pid)


def after_rss(args: argparse.Namespace, tally: Tally, pid: loadserver.Pids) -> None:
    """RSS once every student left and ``--after-wait`` s passed, then after one more session."""
    if pid is not None:
        time.sleep(args.after_wait)
        tally.rss["after wait"] = rss_kb(pid)
        args_now = argparse.Namespace(**{**vars(args), "after_wait": 0.0})
        tally.rss["after one more session"] = _one_more(args_now, pid)


def warm_up(args: argparse.Namespace, tally: Tally, pid: loadserver.Pids) -> None:
    """One untimed student visits every page (a teacher opening the app before class: the
    server's lazy caches fill, as a server with a start-up warm-up fills them by itself); behind
    a balancer, one per replica."""
    start, warm = time.monotonic(), Tally()
    for j in range(max(1, len(args.cookies))):
        s = student(args, 10**6 + 1 + j)  # consecutive students: consecutive replicas
        _tour(args, warm, s)
        s.close()
    wait_quiet(pid, args.settle)
    tally.warmed = time.monotonic() - start
    for reason in warm.dropped:
        tally.drop(f"warm-up {reason}")


def _tour(args: argparse.Namespace, tally: Tally, s: Student) -> None:
    """Visit every page of the mix once (the session then stays open, idle)."""
    try:
        for page in args.pages:
            tally.add(s.visit(page))
    except Dropped as exc:
        tally.drop(exc.reason)


def _settled_rss(args: argparse.Namespace, pid: loadserver.Pids) -> int | None:
    time.sleep(1.0)
    if args.settle > 0:
        wait_quiet(pid, min(30.0, args.settle))  # the last runs' work done
    return rss_kb(pid)


def idle_memory(args: argparse.Namespace, tally: Tally, pid: loadserver.Pids) -> None:
    """Server RSS with one idle session and with ``--sessions`` idle sessions, each having visited
    every page of the mix, read once the server is quiet: ``tally.idle_rss``."""
    if pid is None:
        return
    students = [student(args, 50_000 + i) for i in range(args.sessions)]
    try:
        _tour(args, tally, students[0])
        one = _settled_rss(args, pid)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda s: _tour(args, tally, s), students[1:]))
        tally.idle_rss = (one, _settled_rss(args, pid), args.sessions)
    finally:
        for s in students:
            _close(s, tally)


def rounds(args: argparse.Namespace, tally: Tally, pid: loadserver.Pids) -> None:
    """The rounds scenario: 3 rounds of students coming and going, then (on the server they
    warmed: caches filled, garbage of start-up collected) idle sessions' memory. A first round,
    not counted in the growth, warms the server (its start-up garbage goes in that round)."""
    for n in range(4):
        crowd(args, tally, visitor, args.seconds)
        rss = _one_more(args, pid) if pid is not None else None
        if n == 0:
            tally.rss["after a warm-up round"] = rss
        else:
            tally.rss_rounds.append(rss)
    idle_memory(args, tally, pid)


def slider_probe(args: argparse.Namespace) -> SliderProbe | None:
    """The Chromium slider probe for a steady or burst run (None when ``--slider-steps 0``)."""
    if args.slider_steps <= 0 or args.scenario == "rounds":
        return None
    start_after = args.ramp if args.scenario == "steady" else 0.0
    probe = SliderProbe(args.url, args.slider_model, args.slider_steps, start_after, args.timeout)
    probe.start()
    return probe


def _probe_done(args: argparse.Namespace, tally: Tally, probe: SliderProbe | None) -> None:
    """Stop the probe (the load has ended) and keep what it measured while the load ran."""
    if probe is None:
        tally.slider_note = "--slider-steps 0" if args.scenario != "rounds" else "not run: rounds measures memory"
        return
    probe.stop.set()
    probe.join(3 * args.timeout + 30)
    tally.slider = probe.latencies
    notes = [probe.skipped or "", probe.error or "", "still running" if probe.is_alive() else ""]
    if len(probe.latencies) < args.slider_steps and not probe.skipped:
        notes.append(f"{len(probe.latencies)} of {args.slider_steps} steps before the load ended")
    if probe.late:
        notes.append(f"{probe.late} more finished after it, not counted")
    tally.slider_note = "; ".join(n for n in notes if n)


def run(args: argparse.Namespace, pid: loadserver.Pids = None, tally: Tally | None = None,
        others: dict[str, loadserver.Pids] | None = None) -> Tally:
    """Run the scenario against ``args.url``; ``pid`` is the server's (or the replicas'), for RSS and
    CPU (None: not read); ``others`` more processes whose CPU to report (nginx); results go to
    ``tally`` (a new one by default), which is returned."""
    tally, monitor = tally or Tally(), RssPeak(pid)
    if args.scenario != "burst" and args.settle > 0:  # burst: a freshly started server, on purpose
        tally.settled = wait_quiet(pid, args.settle)
    if args.scenario == "steady" and not args.no_warm:
        warm_up(args, tally, pid)
    tally.rss["start"] = rss_kb(pid)
    probe = slider_probe(args)
    monitor.start()
    cpu_used = loadserver.cpu_meter({"servers": pid, **(others or {}), "this bench": os.getpid(),
                                     "whole machine": loadserver.machine_cpu_seconds})
    start = time.monotonic()
    if args.scenario == "steady":
        crowd(args, tally, steady, args.ramp + args.seconds)
    elif args.scenario == "burst":
        crowd(args, tally, burst, args.ramp + args.seconds)
    else:
        rounds(args, tally, pid)
    tally.elapsed = time.monotonic() - start
    if pid is not None:
        tally.cpu = cpu_used()
    _probe_done(args, tally, probe)
    monitor.done.set()
    tally.rss["peak"], tally.rss["VmHWM"] = monitor.peak, rss_kb(pid, "VmHWM")
    if args.scenario != "rounds":
        after_rss(args, tally, pid)
    return tally


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", choices=("steady", "burst", "rounds"), default="steady")
    p.add_argument("--url", help="a running app (http://127.0.0.1:PORT); default: start one here")
    p.add_argument("--pid", type=int, help="with --url: the server's pid, to read its RSS")
    p.add_argument("--compare", metavar="DIR", help="a checkout of another version: measure it first, then this one")
    p.add_argument("--replicas", type=int, help="through nginx: deploy/run_local.sh with this many replicas "
                   f"(1-{deploy.MAX_REPLICAS}), started here")
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--seconds", type=float, default=30.0, help="steady: how long; burst/rounds: time limit")
    p.add_argument("--ramp", type=float, default=2.0, help="students arrive within this many seconds")
    p.add_argument("--think", type=float, default=2.0, help="pause after each action (jittered 0.5x-1.5x); "
                   "0: none (saturation)")
    p.add_argument("--changes", type=int, default=2, help="widget changes per page visit")
    p.add_argument("--pages", default=",".join(APP_PAGES), help=f"page mix, from {','.join(APP_PAGES)}")
    p.add_argument("--model", default="mnist-2d")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    p.add_argument("--no-cache", action="store_true", help="students claim no cached messages")
    p.add_argument("--slider-steps", type=int, default=40, help="Chromium slider round trips during the load; 0: off")
    p.add_argument("--slider-model", default="mnist-20d", help="model of the slider probe (bench/app_latency.py's)")
    p.add_argument("--settle", type=float, default=120.0, help="steady, rounds: first wait up to this many s "
                   "for the server to go quiet (its start-up warm-up done); 0: start at once")
    p.add_argument("--no-warm", action="store_true", help="steady: no untimed visit to every page before the load")
    p.add_argument("--ttl", type=int, help="server.disconnectedSessionTTL of a server started here "
                   "(default: rounds 10, else 120)")
    p.add_argument("--after-wait", type=float, help="wait after all left, before reading RSS (default ttl + 5)")
    args = p.parse_args(argv)
    args.pages, args.specs = args.pages.split(","), APP_PAGES  # specs: name -> PageSpec (tests use their own)
    args.cookies = []  # sticky cookies, one per replica, once a balancer runs (--replicas)
    unknown = set(args.pages) - set(APP_PAGES)
    if unknown or args.sessions < 1 or args.think < 0:
        p.error(f"unknown pages {sorted(unknown)}" if unknown else "--sessions >= 1 and --think >= 0, please")
    if args.url:
        try:
            args.url = check_local(args.url)
        except ValueError as exc:
            p.error(str(exc))
    if args.compare and (args.url or not (Path(args.compare) / entry_script(Path(args.compare))).is_file()):
        p.error("--compare starts both servers itself (no --url)" if args.url
                else f"--compare {args.compare}: no serve.py or app.py there")
    if args.replicas is not None and (args.url or args.compare or not 1 <= args.replicas <= deploy.MAX_REPLICAS):
        p.error(f"--replicas takes 1 to {deploy.MAX_REPLICAS} and starts its own servers (no --url, no --compare)")
    if args.ttl is None:
        args.ttl = 10 if args.scenario == "rounds" else 120
    if args.after_wait is None:
        args.after_wait = args.ttl + 5.0
    return args


def measure_deployed(args: argparse.Namespace) -> Tally:
    """Start deploy/run_local.sh with ``--replicas`` replicas of this checkout, run the scenario
    through its nginx (each student with the sticky cookie of its replica), stop it."""
    with tempfile.TemporaryDirectory() as tmp, \
            loadserver.deployed(args.replicas, _server_env(args, tmp), args.sessions) as (d, cookies, where):
        tally = run(argparse.Namespace(**{**vars(args), "url": d.url, "cookies": cookies}), d.pids,
                    others={"nginx": loadserver.with_children(d.announced.nginx_pid)})
    tally.server, tally.tracebacks = where, d.tracebacks
    if tally.tracebacks:
        print(f"run_local.sh log: {tally.tracebacks} tracebacks; last lines:", *list(d.log)[-20:], sep="\n  ")
    return tally


def _server_env(args: argparse.Namespace, tmp: str) -> dict[str, str]:
    """A server's private data folders under ``tmp`` and the bench's session TTL."""
    return {"VAE_USER_MODELS": f"{tmp}/models", "VAE_JOBS_DIR": f"{tmp}/jobs",
            "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(args.ttl)}


def measure(args: argparse.Namespace, root: Path) -> Tally:
    """Start the checkout ``root``'s server, run the scenario against it, stop it."""
    where = f"{root} ({entry_script(root)}, {describe(root)}; vae from {imports_from(root)})"
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(root, _server_env(args, tmp))
        try:
            tally = run(argparse.Namespace(**{**vars(args), "url": server.url}), server.pid)
        finally:
            server.stop()
    tally.server, tally.tracebacks = f"started here from {where}", server.tracebacks
    if server.tracebacks:
        print(f"server log ({root}): {server.tracebacks} tracebacks; last lines:", *server.log, sep="\n  ")
    return tally


def report(args: argparse.Namespace, tally: Tally, title: str = "") -> None:
    print(*([f"== {title}"] if title else []), *summary(args, tally), *targets(args, tally), sep="\n", flush=True)


def failed(tally: Tally) -> bool:
    return bool(sum(tally.dropped.values()) or tally.media_failed or tally.exceptions)


def main(argv: list[str] | None = None) -> tuple[int, Tally]:
    """Parse, run, print; (exit status, the tally of this checkout's server or of ``--url``)."""
    args = parse(argv)
    if args.url:
        tally = run(args, args.pid)
        tally.server = args.url
        report(args, tally)
        return int(failed(tally)), tally
    if args.replicas is not None:
        tally = measure_deployed(args)
        report(args, tally)
        return int(failed(tally)), tally
    base = measure(args, Path(args.compare).resolve()) if args.compare else None
    if base is not None:
        report(args, base, f"base: {args.compare}")
    tally = measure(args, ROOT)
    report(args, tally, "branch: this checkout" if base is not None else "")
    if base is not None:
        print(*compare(base, tally), sep="\n", flush=True)
    return int(failed(tally) or (base is not None and failed(base))), tally


if __name__ == "__main__":
    sys.exit(main()[0])
