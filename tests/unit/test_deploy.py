"""deploy/run_local.sh's arguments and harness/deploy.py's pure parts (no nginx needed): the
script refuses bad arguments with its usage and status 2 before starting anything; the lines it
prints are read back; sticky cookies are chosen one per replica; processes and ports are checked
the way Deployment.stop checks them. The real nginx runs in tests/e2e/test_e2e_deploy_local.py."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from harness import deploy
from harness.deploy import Announced, Replica


@pytest.mark.parametrize("args, why", [
    ([], "expected 2 arguments, got 0"),
    (["8080"], "expected 2 arguments, got 1"),
    (["8080", "2", "3"], "expected 2 arguments, got 3"),
    (["http", "2"], "PORT must be a number from 1 to 65535, not 'http'"),
    (["0", "2"], "PORT must be a number from 1 to 65535, not '0'"),
    (["65536", "2"], "PORT must be a number from 1 to 65535, not '65536'"),
    (["08080", "2"], "PORT must be a number from 1 to 65535, not '08080'"),
    (["8080", "0"], "REPLICAS must be a number from 1 to 16, not '0'"),
    (["8080", "17"], "REPLICAS must be a number from 1 to 16, not '17'"),
    (["8080", "-1"], "REPLICAS must be a number from 1 to 16, not '-1'"),
    (["8080", "two"], "REPLICAS must be a number from 1 to 16, not 'two'"),
])
def test_bad_arguments_give_the_usage_and_status_2(args, why):
    out = subprocess.run(["bash", str(deploy.SCRIPT), *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out
    assert out.stdout == ""
    assert f"run_local.sh: {why}\n" in out.stderr
    assert "usage: deploy/run_local.sh PORT REPLICAS" in out.stderr


def test_the_scripts_lines_are_read_back():
    seen = Announced()
    for line in ["[replica 1] You can now view your Streamlit app in your browser.",
                 "replica 1: http://127.0.0.1:40001 (pid 101)\n",
                 "replica 2: http://127.0.0.1:40002 (pid 102)\n",
                 "[replica 2] replica 3: http://127.0.0.1:40003 (pid 103)",  # a log line, not an announcement
                 "nginx: pid 200, config /tmp/vae-deploy.abc/nginx.conf\n"]:
        seen.read(line)
    assert seen.url is None
    seen.read("ready: http://127.0.0.1:8080 (2 replica(s) behind nginx; Ctrl-C or SIGTERM stops them all)\n")
    assert seen.replicas == [Replica(1, "http://127.0.0.1:40001", 40001, 101),
                             Replica(2, "http://127.0.0.1:40002", 40002, 102)]
    assert [r.address for r in seen.replicas] == ["127.0.0.1:40001", "127.0.0.1:40002"]
    assert (seen.nginx_pid, seen.run_dir, seen.url) == (200, "/tmp/vae-deploy.abc", "http://127.0.0.1:8080")


def _balancer(replicas: int):
    """A fake balancer: a cookie value's replica by its hash, and the values it was asked about."""
    asked: list[str] = []

    def probe(url: str, value: str) -> str:
        asked.append(value)
        return f"127.0.0.1:{40000 + sum(map(ord, value)) % replicas}"
    return probe, asked


def test_sticky_cookies_are_one_value_per_replica_in_address_order():
    probe, asked = _balancer(3)
    cookies = deploy.sticky_cookies("http://lb", 3, probe=probe, values=(f"v{i}" for i in range(100)))
    assert len(cookies) == 3 and len(asked) < 100  # stops once every replica is reached
    assert [probe("http://lb", c) for c in cookies] == ["127.0.0.1:40000", "127.0.0.1:40001", "127.0.0.1:40002"]
    assert all(c in asked for c in cookies)
    random_ones = deploy.sticky_cookies("http://lb", 2, probe=_balancer(2)[0])
    assert len(set(random_ones)) == 2 and all(len(c) == 32 for c in random_ones)


def test_sticky_cookies_fail_when_fewer_replicas_answer():
    probe, asked = _balancer(1)
    with pytest.raises(RuntimeError, match="1 of 2 replicas reached by 25 cookie values at http://lb"):
        deploy.sticky_cookies("http://lb", 2, tries=25, probe=probe)
    assert len(asked) == 25


def test_students_spread_over_the_replicas_in_turn():
    assert [deploy.spread(["a", "b"], i) for i in range(5)] == ["a", "b", "a", "b", "a"]
    assert deploy.spread([], 3) is None
    assert deploy.cookie_header("abc") == {"Cookie": "vae_replica=abc"}


def test_gone_counts_a_zombie_as_ended():
    assert not deploy.gone(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while not deploy.gone(child.pid) and time.monotonic() < deadline:  # ended, not yet reaped
        time.sleep(0.05)
    assert deploy.gone(child.pid) and os.path.exists(f"/proc/{child.pid}")
    child.wait()
    assert deploy.gone(child.pid)


def test_port_free_sees_a_listener():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
        assert not deploy.port_free(port)
    assert deploy.port_free(port)
    assert deploy.port_free(deploy.free_port())


def test_missing_names_nginx(monkeypatch):
    monkeypatch.setattr(deploy.shutil, "which", lambda name: None)
    monkeypatch.setattr(deploy.os, "access", lambda path, mode: False)
    assert deploy.nginx_path() is None
    assert deploy.missing() == "no nginx on the PATH or at /usr/sbin/nginx"
