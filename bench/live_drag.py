"""Live drag in a real browser: frames per second, input-to-paint delay and server messages.

    python bench/live_drag.py                  # Decode sliders (mnist-2d, mnist-20d) and the latent pad
    python bench/live_drag.py --moves 400 --repeats 5
    python bench/live_drag.py --only morph     # Morph's live t slider only (mnist-2d, mnist-20d)

Drags a live slider's thumb across its whole range and back on the Decode page, and the
cursor of the latent pad around the plane on the Latent map page, with page.mouse.down / move
/ up and many small moves (ui/live.py decodes in the browser), and Morph's live t slider (the path
z0 -> z1 computed and decoded in the browser, the pad's marker following). The page counts for us
(window.__vaeLive, see ui/live_assets/live.js): every input event's timestamp, the canvas redraw it
causes, and the next animation frame after that redraw. Reported per drag, as medians over
``--repeats`` drags:

- fps: painted frames (animation frames that follow at least one redraw) per second of drag,
  from the first input event to the last painted frame;
- input-to-paint: event timestamp -> next animation frame after the redraw, p50 and p95 over
  every event of every drag;
- decode: the JavaScript forward pass alone, p50 and p95;
- messages: websocket frames the page sent during the drag (mouse down to just before the
  release) and after the release.

Targets on the 2-core machine: >= 30 fps, p95 input-to-paint <= 33 ms, no message during a
drag (only the release of a slider may send one; a drag on the pad sends none).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from harness.browser import CHROMIUM, CHROMIUM_ARGS, start_app, stop_app, wait_ready

ROOT = Path(__file__).resolve().parents[1]

DRAWN = "() => window.__vaeLive && window.__vaeLive.decodeMs.length > 0"
READ = """() => { const p = window.__vaeLive;
  return {inputs: p.inputs, redraws: p.redraws, frames: p.frames, latencies: p.latencies.slice(),
          decodeMs: p.decodeMs.slice(), span: p.lastFrame === null ? 0 : p.lastFrame - p.firstInput}; }"""


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))] if s else float("nan")


def _path(page, points: list[tuple[float, float]], moves: int) -> None:
    """Move the mouse through ``points`` in ``moves`` small steps in all (Playwright sends the
    steps of one segment back to back, without a round trip to Python each)."""
    per = max(1, moves // (len(points) - 1))
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=per)


def one_drag(page, sent: list, points: list[tuple[float, float]], moves: int) -> dict:
    """Press at points[0], drag through the rest, release; the page's counts for that drag."""
    page.mouse.move(*points[0])
    page.wait_for_timeout(100)
    page.evaluate("() => window.__vaeLive.reset()")
    page.mouse.down()
    n0 = len(sent)
    _path(page, points, moves)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    during = len(sent) - n0
    stats = page.evaluate(READ)
    page.mouse.up()
    page.wait_for_timeout(400)
    wait_ready(page)
    stats.update(during=during, after=len(sent) - n0 - during)
    return stats


def slider_points(page, k: int) -> list[tuple[float, float]]:
    """0 -> +3 -> -3 -> a value that differs from drag to drag (so each release changes z)."""
    box = page.locator('[data-testid="liveSlider"]').first.bounding_box()
    y, mid, w = box["y"] + box["height"] / 2, box["x"] + box["width"] / 2, box["width"]
    return [(mid, y), (box["x"] + w - 2, y), (box["x"] + 2, y), (mid + w * (0.1 + 0.07 * (k % 5)), y)]


def morph_points(page, k: int) -> list[tuple[float, float]]:
    """Morph's t: 0.5 -> 1 -> 0 -> a value that differs from drag to drag (each release changes t)."""
    slider = page.locator('[data-testid="pathSlider"]')
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y, mid, w = box["y"] + box["height"] / 2, box["x"] + box["width"] / 2, box["width"]
    return [(mid, y), (box["x"] + w - 2, y), (box["x"] + 2, y), (mid + w * (0.1 + 0.07 * (k % 5)), y)]


def pad_points(page, k: int) -> list[tuple[float, float]]:
    """From the centre to the four corners and back (a drag: nothing is pinned)."""
    pad = page.locator('[data-testid="latentPad"]')
    pad.scroll_into_view_if_needed()
    b = pad.bounding_box()
    fractions = [(0.5, 0.5), (0.95, 0.05), (0.05, 0.95), (0.95, 0.95), (0.05, 0.05), (0.5, 0.5)]
    return [(b["x"] + fx * b["width"], b["y"] + fy * b["height"]) for fx, fy in fractions]


def scenario(browser, url: str, name: str, path: str, points_of, moves: int, repeats: int) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sent: list = []
    errors: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{url}/{path}")
    wait_ready(page)
    try:
        page.wait_for_function(DRAWN, timeout=60_000)
    except Exception as exc:  # noqa: BLE001 - say what the page said
        raise RuntimeError(f"{name}: the live canvas was not drawn within 60 s; console errors: {errors}") from exc
    one_drag(page, sent, points_of(page, 0), moves // 4)  # warm-up (JIT)
    drags = [one_drag(page, sent, points_of(page, k + 1), moves) for k in range(repeats)]
    page.close()
    fps = [d["frames"] / (d["span"] / 1000) for d in drags if d["span"] > 0]
    lat = [v for d in drags for v in d["latencies"]]
    dec = [v for d in drags for v in d["decodeMs"]]
    out = {"name": name, "fps": statistics.median(fps) if fps else 0.0, "p50": percentile(lat, 50),
           "p95": percentile(lat, 95), "dec50": percentile(dec, 50), "dec95": percentile(dec, 95),
           "inputs": statistics.median(d["inputs"] for d in drags),
           "frames": statistics.median(d["frames"] for d in drags),
           "during": sum(d["during"] for d in drags), "after": [d["after"] for d in drags]}
    print(f"{name}: {out['fps']:.1f} fps, input-to-paint p50 {out['p50']:.1f} ms / p95 {out['p95']:.1f} ms, "
          f"decode p50 {out['dec50']:.2f} ms / p95 {out['dec95']:.2f} ms; per drag {out['inputs']:.0f} input "
          f"events, {out['frames']:.0f} painted frames; websocket messages during {repeats} drags: "
          f"{out['during']}, after each release: {out['after']}", flush=True)
    return out


def main() -> int:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--moves", type=int, default=240, help="mouse moves per drag")
    p.add_argument("--repeats", type=int, default=3, help="drags per scenario")
    p.add_argument("--only", default="", help="run only the scenarios whose name contains this (case-insensitive)")
    args = p.parse_args()
    scenarios = [("Decode slider, mnist-2d (MLP)", "?model=mnist-2d", slider_points),
                 ("Decode slider, mnist-20d (conv)", "?model=mnist-20d", slider_points),
                 ("Latent pad, mnist-2d (MLP)", "latent_map?model=mnist-2d", pad_points),
                 ("Morph t slider, mnist-2d (MLP)", "morph?model=mnist-2d", morph_points),
                 ("Morph t slider, mnist-20d (conv)", "morph?model=mnist-20d", morph_points)]
    scenarios = [s for s in scenarios if args.only.lower() in s[0].lower()]
    results = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        proc, url = start_app({"VAE_USER_MODELS": f"{tmp}/models", "VAE_JOBS_DIR": f"{tmp}/jobs"})
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for name, path, points_of in scenarios:
                results.append(scenario(browser, url, name, path, points_of, args.moves, args.repeats))
        finally:
            browser.close()
            stop_app(proc)
    ok = True
    for r in results:
        met = r["fps"] >= 30 and r["p95"] <= 33 and r["during"] == 0
        ok = ok and met
        print(f"{r['name']}: {'meets' if met else 'MISSES'} the targets (>= 30 fps, p95 <= 33 ms, "
              "0 messages during a drag)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
