"""bench/load.py against the real app for a few seconds: three students with message caches
visit their pages, change a number input or slider and fetch the images; no session may drop,
no image fetch fail, no exception show. The rounds scenario on a server the bench starts itself
prints its memory figures and targets. Not timing tests: nothing here asserts how fast anything
was."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness import loadclient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _need_browser():
    """Overrides the e2e conftest's: these tests need the app server, not a browser."""


def test_three_students_for_five_seconds(app_url, capsys):
    status, tally = loadclient.load_bench().main(["--url", app_url, "--sessions", "3", "--seconds", "5", "--ramp", "1",
                                                  "--think", "0.5", "--changes", "1", "--after-wait", "0",
                                                  "--slider-steps", "0", "--settle", "0"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert not tally.dropped and tally.exceptions == 0 and tally.media_failed == 0, printed
    assert tally.sessions == 3 and len(tally.samples) >= 3, printed
    assert {s.page for s in tally.samples} >= {"decode", "latent_map", "morph"}  # each student's first page
    assert sum(s.media_files for s in tally.samples) > 0 and "reruns:" in printed


def test_rounds_on_a_server_started_by_the_bench(capsys):
    status, tally = loadclient.load_bench().main(["--scenario", "rounds", "--sessions", "2", "--seconds", "30",
                                                  "--think", "0", "--changes", "1", "--ttl", "1", "--after-wait", "0",
                                                  "--settle", "0"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert f"from {ROOT} (" in printed and f"vae from {ROOT / 'vae' / '__init__.py'}" in printed
    assert len(tally.rss_rounds) == 3 and None not in tally.rss_rounds, printed
    assert tally.idle_rss is not None and tally.idle_rss[2] == 2 and None not in tally.idle_rss, printed
    assert "MB per extra idle session" in printed and "growth last - first round" in printed
    assert any(line.split()[:1] in (["PASS"], ["MISS"]) and "per idle session" in line
               for line in printed.splitlines()), printed
