"""The live component's loader (ui/live_assets/loader.js, run in Node against a fake module):
under serve.py it imports the component's code from a URL and forwards Streamlit's calls to it.

Before the import resolves only an element's latest call runs (an update that came first is
dropped) and a call whose cleanup came first never runs; once loaded, calls run at once and a
cleanup from a superseded call does nothing; a failed import shows an error, reports "failed"
(the page then decodes on the server) and the next call imports again.

Needs Node (``node`` on PATH); skips without it, unless VAE_REQUIRE_BROWSER is set."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("js_loader_harness.mjs")
LOADER = Path(__file__).resolve().parents[2] / "ui" / "live_assets" / "loader.js"


@pytest.fixture(scope="module")
def log(node: str) -> dict:
    out = subprocess.run([node, str(HARNESS), str(LOADER)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_only_the_latest_call_runs_once_the_module_is_there(log):
    ok = log["ok"]
    assert ok["pending"] == []  # nothing runs before the import resolves
    assert ok["loaded"] == [["mount", "a2"]]  # a1 was superseded, b1 unmounted before it could run


def test_once_loaded_calls_run_at_once_and_only_the_owning_cleanup_acts(log):
    ok = log["ok"]
    assert ok["lateCleanup"] == [] and ok["staleCleanup"] == []
    assert ok["sync"] == [["mount", "a3"]]
    assert ok["unmount"] == [["cleanup", "a3"]] and ok["again"] == []


def test_a_failed_import_is_shown_and_reported_and_retried(log):
    failing = log["failing"]
    ((event, message),) = failing["failed"]
    assert event == "failed" and message.startswith("could not load the live component's code (")
    ((cls, testid, text, removed),) = failing["shown"]
    assert (cls, testid, removed) == ("live-error", "liveError", False)
    assert text == f"Live decoding stopped: {message}"
    assert failing["retried"] == [["mount", "c2"]] and failing["errorRemoved"]
    assert failing["unmount"] == [["cleanup", "c2"]]
