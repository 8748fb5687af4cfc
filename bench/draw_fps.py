"""Draw a digit in a real browser: frames per second of the live reconstruction while drawing.

    python bench/draw_fps.py                      # mnist-2d (MLP encoder) and mnist-20d (conv encoder)
    python bench/draw_fps.py --seconds 2 --repeats 5

On the Reconstruct page with "Draw" as the source (ui/draw.py), drives one stroke of
``--seconds`` (down, a move every ``--every-ms`` along a loop around the canvas, up),
``--repeats`` times per model after a warm-up stroke, each on a cleared canvas, two ways:
``page`` dispatches the pointer events from a timer in the page (a pen's rate, whatever the
load on this machine), ``mouse`` sends real input with page.mouse, one round trip to Chromium
per move (on a busy 2-core machine that round trip, not the page, can cap the rate). The page
counts for us (window.__vaeDraw, see ui/live_assets/draw.js): pointer moves, and the animation
frames whose redraw (prep.js -> encoder.js -> decoder.js) painted a new reconstruction. Reported
per model, medians over the strokes:

- fps: frames that painted a new reconstruction per second, from the first pointer event to the
  last such frame;
- prep and encode+decode: milliseconds per redraw, p50 and p95 over every redraw;
- messages: websocket frames the page sent during the strokes (mouse down to just before the
  release; the target is none) and after each release.

Target on the 2-core machine: >= 30 fps (as for the live sliders, bench/live_drag.py), no
message during a stroke.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time

from harness.browser import CHROMIUM, CHROMIUM_ARGS, start_app, stop_app, wait_ready

READ = """() => { const p = window.__vaeDraw;
  return {moves: p.moves, computes: p.computes, frames: p.frames, prepMs: p.prepMs.slice(), modelMs: p.modelMs.slice(),
          span: p.lastFrame === null ? 0 : p.lastFrame - p.firstMove}; }"""
LIVE = "follows your strokes"
# The same loop as loop_point, driven by a timer in the page: pointer events at a pen's rate,
# with no round trip to this process per event (page.mouse costs one each, 10-40 ms on a busy machine).
IN_PAGE = """async (canvas, [seconds, everyMs]) => {
  const r = canvas.getBoundingClientRect();
  const at = (t) => { const a = 2 * Math.PI * 1.5 * t - Math.PI / 2;
    return {clientX: r.left + r.width * (0.5 + 0.25 * Math.cos(a)),
            clientY: r.top + r.height * (0.5 + 0.35 * Math.sin(a))}; };
  const init = {pointerId: 1, pointerType: "mouse", isPrimary: true, bubbles: true, cancelable: true, button: 0};
  canvas.dispatchEvent(new PointerEvent("pointerdown", {...init, buttons: 1, ...at(0)}));
  const t0 = performance.now();
  await new Promise((done) => {
    const id = setInterval(() => {
      const t = (performance.now() - t0) / (1000 * seconds);
      if (t >= 1) { clearInterval(id); done(); return; }
      canvas.dispatchEvent(new PointerEvent("pointermove", {...init, buttons: 1, ...at(t)}));
    }, everyMs);
  });
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  return at(1);
}"""
UP = """(canvas, xy) => canvas.dispatchEvent(new PointerEvent("pointerup", {pointerId: 1, pointerType: "mouse",
  isPrimary: true, bubbles: true, button: 0, buttons: 0, ...xy}))"""


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))] if s else float("nan")


def loop_point(box: dict, t: float) -> tuple[float, float]:
    """The stroke at fraction ``t`` in [0, 1]: one and a half turns of an ellipse in the canvas,
    like a "0" drawn over itself."""
    a = 2 * math.pi * 1.5 * t - math.pi / 2
    return (box["x"] + box["width"] * (0.5 + 0.25 * math.cos(a)),
            box["y"] + box["height"] * (0.5 + 0.35 * math.sin(a)))


def _mouse_stroke(page, box: dict, seconds: float, every_ms: float) -> None:
    """Move the pressed mouse along the loop for ``seconds``, one page.mouse.move per ``every_ms``
    at most (each waits for Chromium's acknowledgement)."""
    t0, k = time.monotonic(), 0
    while (elapsed := time.monotonic() - t0) < seconds:
        page.mouse.move(*loop_point(box, elapsed / seconds))
        k += 1
        pause = t0 + k * every_ms / 1000 - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def one_stroke(page, sent: list, seconds: float, every_ms: float, driver: str) -> dict:
    """Clear, then press, move along the loop for ``seconds`` (one move per ``every_ms``), release;
    with real mouse input (``driver`` "mouse") or pointer events dispatched in the page ("page")."""
    page.locator('[data-testid="drawClear"]').click()
    page.wait_for_timeout(300)
    wait_ready(page, 180_000)
    canvas = page.locator('[data-testid="drawCanvas"]')
    box = canvas.bounding_box()
    page.mouse.move(*loop_point(box, 0))
    page.evaluate("() => window.__vaeDraw.reset()")
    n0 = len(sent)
    if driver == "mouse":
        page.mouse.down()
        _mouse_stroke(page, box, seconds, every_ms)
    else:
        end = canvas.evaluate(IN_PAGE, [seconds, every_ms])
    during = len(sent) - n0
    stats = page.evaluate(READ)
    if driver == "mouse":
        page.mouse.up()
    else:
        canvas.evaluate(UP, end)
    page.wait_for_timeout(500)
    wait_ready(page, 180_000)
    stats.update(during=during, after=len(sent) - n0 - during)
    return stats


def scenario(browser, url: str, model: str, seconds: float, every_ms: float, repeats: int, driver: str) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sent: list = []
    errors: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{url}/reconstruct?model={model}")
    wait_ready(page, 180_000)
    page.locator('[data-testid="stRadio"]').get_by_text("Draw", exact=True).click()
    try:
        page.locator('[data-testid="drawStatus"]').filter(has_text=LIVE).wait_for(timeout=60_000)
    except Exception as exc:  # noqa: BLE001 - say what the page said
        raise RuntimeError(f"{model}: live reconstruction did not start within 60 s; console errors: {errors}") from exc
    wait_ready(page, 180_000)
    one_stroke(page, sent, seconds / 2, every_ms, driver)  # warm-up (JIT)
    strokes = [one_stroke(page, sent, seconds, every_ms, driver) for _ in range(repeats)]
    page.close()
    fps = [s["frames"] / (s["span"] / 1000) for s in strokes if s["span"] > 0]
    prep = [v for s in strokes for v in s["prepMs"]]
    mod = [v for s in strokes for v in s["modelMs"]]
    out = {"name": f"{model} ({driver} input)", "fps": statistics.median(fps) if fps else 0.0, "runs": fps,
           "moves": statistics.median(s["moves"] for s in strokes),
           "frames": statistics.median(s["frames"] for s in strokes),
           "prep50": percentile(prep, 50), "prep95": percentile(prep, 95),
           "mod50": percentile(mod, 50), "mod95": percentile(mod, 95),
           "during": sum(s["during"] for s in strokes), "after": [s["after"] for s in strokes]}
    print(f"{out['name']}: {out['fps']:.1f} fps (median of {repeats} strokes of {seconds:g} s: "
          f"{', '.join(f'{v:.1f}' for v in fps)}); per stroke {out['moves']:.0f} pointer events, "
          f"{out['frames']:.0f} new reconstructions; prep p50 {out['prep50']:.2f} / p95 {out['prep95']:.2f} ms, "
          f"encode+decode p50 {out['mod50']:.2f} / p95 {out['mod95']:.2f} ms; websocket messages during "
          f"{repeats} strokes: {out['during']}, after each release: {out['after']}", flush=True)
    return out


def main() -> int:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0, help="length of one stroke")
    p.add_argument("--every-ms", type=float, default=8.0, help="milliseconds between two mouse moves")
    p.add_argument("--repeats", type=int, default=3, help="strokes per model")
    p.add_argument("--models", nargs="+", default=["mnist-2d", "mnist-20d"])
    p.add_argument("--input", nargs="+", choices=["page", "mouse"], default=["page", "mouse"],
                   help="pointer events dispatched by a timer in the page, and/or page.mouse (real input)")
    args = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        proc, url = start_app({"VAE_USER_MODELS": f"{tmp}/models", "VAE_JOBS_DIR": f"{tmp}/jobs"})
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for driver in args.input:
                for model in args.models:
                    results.append(scenario(browser, url, model, args.seconds, args.every_ms, args.repeats, driver))
        finally:
            browser.close()
            stop_app(proc)
    ok = True
    for r in results:
        met = r["fps"] >= 30 and r["during"] == 0
        ok = ok and met
        print(f"{r['name']}: {'meets' if met else 'MISSES'} the targets (>= 30 fps, 0 messages during a stroke)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
