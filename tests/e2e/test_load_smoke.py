"""bench/load.py against the real app for a few seconds: three students with message caches
visit their pages, change a number input or slider and fetch the images; no session may drop,
no image fetch fail, no exception show. Not a timing test."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness import loadclient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _need_browser():
    """Overrides the e2e conftest's: this test needs the app server, not a browser."""


def test_three_students_for_five_seconds(app_url, capsys):
    status, tally = loadclient.load_bench().main(["--url", app_url, "--sessions", "3", "--seconds", "5", "--ramp", "1",
                                        "--think", "0.5", "--changes", "1", "--after-wait", "0"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert not tally.dropped and tally.exceptions == 0 and tally.media_failed == 0, printed
    assert tally.sessions == 3 and len(tally.samples) >= 3, printed
    assert {s.page for s in tally.samples} >= {"decode", "latent_map", "morph"}  # each student's first page
    assert sum(s.media_files for s in tally.samples) > 0 and "reruns:" in printed
