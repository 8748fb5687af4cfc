"""harness/sliderprobe.py in Chromium against the real app: the Decode slider round trip that
bench/load.py measures while its students run. Left alone (no load ending it), the probe must
measure every step it was asked for, without an error. Not a timing test."""
from __future__ import annotations

from harness.sliderprobe import SliderProbe


def test_slider_probe_measures_every_step(app_url):
    probe = SliderProbe(app_url, "mnist-2d", steps=3, timeout=60)
    probe.start()
    probe.join(300)
    assert not probe.is_alive() and probe.error is None and probe.skipped is None, probe.error
    assert len(probe.latencies) == 3 and probe.late == 0 and all(v > 0 for v in probe.latencies)
