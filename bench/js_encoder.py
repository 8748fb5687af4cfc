"""The in-browser encoder's forward pass and the drawing's preparation: time per call.

    python bench/js_encoder.py                 # Node, and Chromium when it is there
    python bench/js_encoder.py --calls 500 --no-browser

For every shipped model, the encoder (ui/live_assets/encoder.js on services/encoder_export.py's
export) encodes one real test image ``--calls`` times after a warm-up; the preparation
(ui/live_assets/prep.js) turns an anti-aliased RGBA drawing of a "0", 256x256 (used as it is)
and 280x280 (first reduced to 256x256, as the server does), into the 28x28 input ``--calls // 4``
times. Reported: median and p95 milliseconds per call, in Node (through the tests' harnesses;
also the CPU time per call, which a busy machine inflates less than the wall time) and in
headless Chromium (the same files as classic scripts, timed with performance.now(), whose
resolution Chromium coarsens to 0.1 ms or so: read medians, not single calls). The draw page
calls both on every stroke update, so together they should stay well under a 16 ms frame.
"""
from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from services.catalog import SHIPPED_DIR
from services.encoder_export import export_encoder
from vae.checkpoint import load
from vae.data.samples import has_sample, load_sample

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "ui" / "live_assets"
ENCODER_HARNESS = ROOT / "tests" / "unit" / "js_encoder_harness.js"
PREP_HARNESS = ROOT / "tests" / "unit" / "js_prep_harness.js"
SIZES = (256, 280)  # up to 256 px a side a drawing is used as it is; above, it is first reduced to 256
BROWSER_JS = """async ([spec, b64, x, label, calls, canvases, prepCalls]) => {
  const enc = vaeMakeEncoder(spec, vaeBytesToFloat32(vaeBase64ToBytes(b64), spec.dtype));
  const img = Float64Array.from(x), t = [], p = [];
  for (let i = 0; i < 20; i++) enc.encode(img, label);
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now(); enc.encode(img, label); t.push(performance.now() - t0);
  }
  for (const [size, canvas] of canvases) {
    const data = new Uint8ClampedArray(vaeBase64ToBytes(canvas)), times = [];
    for (let i = 0; i < prepCalls; i++) {
      const t0 = performance.now();
      vaePrepare({data, width: size, height: size, channels: 4});
      times.push(performance.now() - t0);
    }
    p.push(times);
  }
  return [t, p];
}"""


def _stats(times: list[float], cpu_ms: float | None = None) -> str:
    q = statistics.quantiles(times, n=20)
    cpu = "" if cpu_ms is None else f", CPU {cpu_ms:6.2f} ms"
    return f"median {statistics.median(times):6.2f} ms, p95 {q[-1]:6.2f} ms{cpu}"


def _drawing(size: int) -> np.ndarray:
    """A (size, size) RGBA canvas: a dark anti-aliased ring on transparency, as a user draws a 0."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    dist = np.abs(np.hypot((xs - size / 2) / (size / 4), (ys - size / 2) / (size / 3)) - 1) * size / 3.5
    alpha = np.clip(size / 30 + 0.5 - dist, 0, 1) * 255
    out = np.zeros((size, size, 4), np.uint8)
    out[..., 3] = alpha.round().astype(np.uint8)
    return out


def _image(dataset: str) -> tuple[list[float], int]:
    """One real test image (784 values in [0, 1]) and its class; a blank-ish square without a sample."""
    if has_sample(dataset):
        data = load_sample(dataset)
        return (data.images[7, 0].float() / 255).flatten().tolist(), int(data.labels[7])
    x = np.zeros((28, 28))
    x[8:20, 8:20] = 1.0
    return x.flatten().tolist(), 0


def _node(node: str, harness: Path, job: dict | list) -> dict | list:
    out = subprocess.run([node, str(harness)], input=json.dumps(job), capture_output=True, text=True,
                         timeout=600, check=True)
    return json.loads(out.stdout)


def _chromium():
    """A headless Chromium page with decoder.js, encoder.js and prep.js loaded, or None."""
    from harness import browser
    if browser.missing():
        print(f"Chromium: skipped ({browser.missing()})")
        return None
    from playwright.sync_api import sync_playwright
    pw = sync_playwright().start()
    chrome = pw.chromium.launch(executable_path=browser.CHROMIUM, args=browser.CHROMIUM_ARGS, headless=True)
    page = chrome.new_page()
    page.set_content("<html><body></body></html>")
    for name in ("decoder.js", "encoder.js", "prep.js"):
        page.add_script_tag(content=(ASSETS / name).read_text(encoding="utf-8"))
    return pw, chrome, page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="timed encoder calls per model")
    parser.add_argument("--no-browser", action="store_true", help="Node only")
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        sys.exit("needs Node (`node` on PATH)")
    canvases = [(size, base64.b64encode(_drawing(size).tobytes()).decode("ascii")) for size in SIZES]
    prep_calls = max(1, args.calls // 4)
    prep = _node(node, PREP_HARNESS, [{"width": size, "height": size, "channels": 4, "data": canvas,
                                       "repeat": prep_calls} for size, canvas in canvases])
    for size, out in zip(SIZES, prep):
        stats = _stats(out["times_ms"], out["cpu_ms_per_call"])
        print(f"prep.js, {size}x{size} RGBA drawing -> 28x28, Node:     {stats}")
    chrome = None if args.no_browser else _chromium()
    try:
        for name in sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / "model.safetensors").exists()):
            ckpt = load(SHIPPED_DIR / name)
            spec, weights = export_encoder(ckpt.model)
            x, label = _image(ckpt.dataset)
            label = label if spec["classes"] else None
            job = {"spec": spec, "weights": base64.b64encode(weights).decode("ascii"), "x": [x],
                   "labels": [label], "repeat": args.calls}
            what = f"{name} ({ckpt.config.arch}, {spec['params']:,} weights)"
            out = _node(node, ENCODER_HARNESS, job)
            print(f"encoder.js {what:40s} Node:     {_stats(out['times_ms'], out['cpu_ms_per_call'])}")
            if chrome:
                enc, prep_times = chrome[2].evaluate(BROWSER_JS, [spec, job["weights"], x, label, args.calls,
                                                                  canvases, prep_calls])
                print(f"encoder.js {what:40s} Chromium: {_stats(enc)}")
        for size, times in zip(SIZES, prep_times if chrome else []):
            print(f"prep.js, {size}x{size} RGBA drawing -> 28x28, Chromium: {_stats(times)}")
    finally:
        if chrome:
            chrome[1].close()
            chrome[0].stop()


if __name__ == "__main__":
    main()
