"""bench/load.py through a load balancer: a simulated student sends its sticky cookie on the
websocket handshake and on every media and asset fetch, as a browser sends its cookies; the
bench's ``--replicas`` option is checked; server memory and CPU sum over several pids."""
from __future__ import annotations

import os
import random
import threading

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from harness import loadclient, loadserver
from harness.loadclient import PageSpec, Sample, Student
from harness.wsclient import Session

COOKIE = {"Cookie": "vae_replica=abc123"}


def test_the_websocket_handshake_carries_the_cookie():
    seen: list[str | None] = []

    def handler(ws) -> None:
        seen.append(ws.request.headers.get("Cookie"))
        ws.close()

    with serve(handler, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        with Session(f"http://127.0.0.1:{port}", timeout=10, headers=COOKIE) as s, pytest.raises(ConnectionClosed):
            s.open()  # the server hangs up after the handshake
        server.shutdown()
    assert seen == ["vae_replica=abc123"]


def test_every_fetch_carries_the_cookie():
    calls = []

    def fetch(base_url: str, path: str, timeout: float, headers: dict[str, str] | None) -> int:
        calls.append((path, headers))
        return 10

    s = Student("http://127.0.0.1:1", {"p": PageSpec("", "k", 0, 1)}, random.Random(0), fetch=fetch, headers=COOKIE)
    sample = Sample("p", "visit")
    s.fetch_all(["/media/a.png"], sample)
    s.fetch_all(["/_vae/assets/x.js"], sample, asset=True)
    assert calls == [("/media/a.png", COOKIE), ("/_vae/assets/x.js", COOKIE)]
    assert (sample.media_files, sample.asset_files, sample.media_failed) == (1, 1, 0)
    plain = Student("http://127.0.0.1:1", {}, random.Random(0), fetch=fetch)
    plain.fetch_all(["/media/b.png"], sample)
    assert calls[-1] == ("/media/b.png", {})


@pytest.mark.parametrize("argv", [["--replicas", "0"], ["--replicas", "17"],
                                  ["--replicas", "2", "--url", "http://127.0.0.1:8501"],
                                  ["--replicas", "2", "--compare", "."]])
def test_replicas_option_is_checked(argv):
    with pytest.raises(SystemExit):
        loadclient.load_bench().parse(argv)


def test_replicas_option_parses():
    args = loadclient.load_bench().parse(["--replicas", "2", "--sessions", "30"])
    assert (args.replicas, args.cookies, args.url) == (2, [], None)
    assert loadclient.load_bench().parse([]).replicas is None


def test_memory_and_cpu_sum_over_several_servers():
    me = os.getpid()
    assert loadserver.rss_kb([me, me], "Tgid") == 2 * loadserver.rss_kb(me, "Tgid") == 2 * me
    assert loadserver.rss_kb([me, 2**31], "Tgid") is None  # one unknown: no sum
    assert loadserver.rss_kb([]) is None and loadserver.rss_kb(None) is None
    assert loadserver.cpu_seconds([me, me]) >= loadserver.cpu_seconds(me) > 0
    used = loadserver.cpu_meter({"me": me, "nobody": 2**31, "none": None, "machine": loadserver.machine_cpu_seconds})
    sum(i * i for i in range(200_000))
    got = used()
    assert got["me"] >= 0 and got["nobody"] is None and got["none"] is None and got["machine"] >= 0
    assert loadserver.with_children(None) == [] and loadserver.with_children(me)[0] == me
