"""bench/load.py's report (harness/loadreport.py) and its servers (harness/loadserver.py).

The targets are checked only for the scenario and class size they are defined for, PASS or MISS
by the value measured; the compare lines give branch/base ratios. A server started from another
checkout runs that checkout's entry script with that checkout's packages: a tiny checkout whose
``vae`` package is a stub shows which ``vae`` its server imported.
"""
from __future__ import annotations

import collections
from pathlib import Path

import pytest

from harness import loadclient, loadreport
from harness.loadclient import Sample
from harness.loadreport import Tally
from harness.loadserver import entry_script, imports_from, start_server, wait_quiet
from harness.wsclient import Session

ROOT = Path(__file__).resolve().parents[2]


def _tally(seconds: list[float], **kw) -> Tally:
    tally = Tally(samples=[Sample("decode", "change", i, s, requests=1, ws_bytes=1024) for i, s in enumerate(seconds)],
                  elapsed=10.0)
    for key, value in kw.items():
        setattr(tally, key, value)
    return tally


def _args(*argv: str):
    return loadclient.load_bench().parse(list(argv))


def _verdicts(lines: list[str]) -> dict[str, str]:
    """label -> PASS/MISS for the targets checked."""
    return {line.split(" ", 3)[3].rsplit(":", 1)[0]: line.split()[0] for line in lines
            if line.split()[:1] in (["PASS"], ["MISS"])}


def test_steady_targets_at_30_sessions():
    args = _args("--scenario", "steady", "--sessions", "30")
    good = _verdicts(loadreport.targets(args, _tally([0.1] * 99 + [1.5])))
    assert good == {"p95 <= 500 ms": "PASS", "max <= 2 s": "PASS", "0 failed/dropped sessions (media fetches count)":
                    "PASS", "0 exceptions shown": "PASS"}
    bad = _tally([0.1] * 90 + [0.8] * 9 + [2.5], dropped=collections.Counter(closed=1))
    assert set(_verdicts(loadreport.targets(args, bad)).values()) == {"MISS", "PASS"}
    assert _verdicts(loadreport.targets(args, bad))["p95 <= 500 ms"] == "MISS"
    lines = loadreport.targets(args, bad)
    assert any("not measured here (--scenario steady --sessions 10): p95 <= 150 ms" in line for line in lines)


def test_other_class_sizes_and_scenarios_are_not_judged():
    lines = loadreport.targets(_args("--sessions", "12"), _tally([9.0] * 10))
    assert _verdicts(lines) == {} and len([line for line in lines if "not measured here" in line]) == 4
    burst = _tally([1.0], first_page=[1.0, 2.0], all_pages=[7.0, 8.0])
    assert _verdicts(loadreport.targets(_args("--scenario", "burst", "--sessions", "3"), burst)) == {
        "first page p95 <= 3 s": "PASS", "all pages p95 <= 6 s": "MISS", "none failed to connect": "PASS"}


def test_memory_targets_and_lines():
    tally = _tally([0.1], idle_rss=(100 * 1024, 130 * 1024, 11), rss_rounds=[200 * 1024, 210 * 1024, 201 * 1024])
    assert tally.mb_per_idle_session() == pytest.approx(3.0) and tally.round_growth_mb() == pytest.approx(1.0)
    args = _args("--scenario", "rounds", "--sessions", "11")
    assert set(_verdicts(loadreport.targets(args, tally)).values()) == {"PASS"}
    printed = "\n".join(loadreport.summary(args, tally))
    assert "3.00 MB per extra idle session" in printed and "growth last - first round +1.0 MB" in printed
    tally.idle_rss = (100 * 1024, None, 11)
    assert _verdicts(loadreport.targets(args, tally))["per idle session < 5 MB"] == "MISS"  # not measured


def test_compare_ratios():
    base, branch = _tally([0.2] * 10, server="base"), _tally([0.1] * 20, server="branch")
    base.slider, branch.slider = [80.0] * 5, [40.0] * 5
    text = "\n".join(loadreport.compare(base, branch))
    assert "reruns/s branch/base 2.00" in text and "p50 base/branch 2.00" in text and "p95 base/branch 2.00" in text
    assert "branch/base 1.00" in text and "slider round trip under load p95 base/branch 2.00" in text


def test_compare_needs_a_checkout_and_no_url(tmp_path):
    with pytest.raises(SystemExit):
        _args("--compare", str(tmp_path))  # no app.py there
    (tmp_path / "app.py").write_text("")
    assert _args("--compare", str(tmp_path)).compare == str(tmp_path)
    with pytest.raises(SystemExit):
        _args("--compare", str(tmp_path), "--url", "http://127.0.0.1:8501")


def test_a_checkout_server_imports_that_checkouts_packages(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "__init__.py").write_text("")
    (tmp_path / "app.py").write_text("import streamlit as st\nimport vae\nst.markdown(f'vae: {vae.__file__}')\n")
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text('[server]\nfileWatcherType = "none"\n')  # its own config
    assert entry_script(tmp_path) == "app.py"
    assert entry_script(ROOT) == ("serve.py" if (ROOT / "serve.py").is_file() else "app.py")
    assert imports_from(tmp_path) == str(tmp_path / "vae" / "__init__.py")
    server = start_server(tmp_path, timeout=60)
    try:
        with Session(server.url) as s:
            assert f"vae: {tmp_path / 'vae' / '__init__.py'}" in s.open().texts()
        assert wait_quiet(server.pid, 60) is not None
    finally:
        server.stop()
    (tmp_path / "serve.py").write_text("")
    assert entry_script(tmp_path) == "serve.py"
