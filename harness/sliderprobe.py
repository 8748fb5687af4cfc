"""The Decode slider round trip in a real Chromium, measured while bench/load.py's students run.

The step is bench/app_latency.py's ``slider_latency``, with its in-page probe (``PROBE``,
imported from that script): from a keydown on the second latent slider (live, or Streamlit's
own when live decoding is off) to the frame after the server's new traversal strip image has
loaded. Here it runs in its own thread with its own Playwright, from ``start_after`` seconds
on (once the students are in) for ``steps`` steps after 5 warm-up ones, and stops when
:attr:`SliderProbe.stop` is set (the load ended): steps that finish after that are counted in
``late``, not measured. Needs Debian's Chromium and the playwright package
(:func:`harness.browser.missing` says what is missing).
"""
from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any

from harness.browser import CHROMIUM, CHROMIUM_ARGS, missing, wait_ready

ROOT = Path(__file__).resolve().parents[1]
WARM_UP = 5
SLIDERS = '[data-testid="liveSlider"], [data-testid="stSlider"]'


def app_latency() -> Any:
    """``bench/app_latency.py`` as a module (``bench/`` is a folder of scripts, not a package)."""
    if "bench_app_latency" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_app_latency", ROOT / "bench" / "app_latency.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_app_latency"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_app_latency"]


class SliderProbe(threading.Thread):
    """Slider round trips (ms) on ``url``'s Decode page for ``model``: ``latencies`` once joined,
    ``late`` steps finished after :attr:`stop`, ``error`` if the probe could not go on, and
    ``skipped`` (why) when Chromium or Playwright is missing."""

    def __init__(self, url: str, model: str, steps: int, start_after: float = 0.0, timeout: float = 60.0) -> None:
        super().__init__(daemon=True)
        self.url, self.model, self.steps = url, model, steps
        self.start_after, self.timeout_ms = start_after, timeout * 1000
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.late = 0
        self.error: str | None = None
        self.skipped = missing()
        self.probe_js = "" if self.skipped else app_latency().PROBE  # imported here, before the load starts

    def run(self) -> None:
        if self.skipped or self.stop.wait(self.start_after):
            return
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    self._measure(browser.new_page())
                finally:
                    browser.close()
        except Exception as exc:  # reported in the bench's output, never raised into it
            self.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]

    def _measure(self, page: Any) -> None:
        """bench/app_latency.py's slider_latency, stopping when :attr:`stop` is set."""
        page.set_default_timeout(self.timeout_ms)
        page.goto(f"{self.url}/?model={self.model}")
        wait_ready(page, self.timeout_ms)
        page.wait_for_selector('[data-testid="stImage"] img')
        page.wait_for_selector(SLIDERS)
        page.evaluate(self.probe_js)
        live = page.locator('[data-testid="liveSlider"]')
        # the second slider: the strip sweeps the first (most active) dim, so moving that one leaves it alone
        thumb = live.nth(1) if live.count() else page.locator('[data-testid="stSlider"] [role="slider"]').nth(1)
        thumb.focus()
        key = "ArrowRight"
        for i in range(self.steps + WARM_UP):
            if self.stop.is_set():
                return
            if i % 20 == 0:
                key = "ArrowLeft" if key == "ArrowRight" else "ArrowRight"
            n = page.evaluate("window.__lat.length")
            page.keyboard.press(key)
            page.wait_for_function(f"window.__lat.length > {n}", timeout=self.timeout_ms)
            wait_ready(page, self.timeout_ms)
            if i >= WARM_UP:
                if self.stop.is_set():
                    self.late += 1
                else:
                    self.latencies.append(page.evaluate("window.__lat[window.__lat.length - 1]"))
