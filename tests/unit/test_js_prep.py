"""The in-browser preparation of a drawing (ui/live_assets/prep.js, run in Node) gives what
services/preprocess.py gives for the same drawing uploaded as a PNG: the same steps (captions and
sizes) and every step's pixels within one grey level (1/255), the model input too. Drawings are
anti-aliased strokes as a canvas makes them: a thick "1", a ring "0", an off-centre scribble, a
tiny mark, on transparent, white, black, grey or coloured backgrounds, at sizes that exercise the
reduction to the work size (both pass orders) and the 20x20 fit (down and up). An empty canvas
is a "nothing drawn" result with the server's message, not an error.

Needs Node (``node`` on PATH); skips without it, unless VAE_REQUIRE_BROWSER is set."""
from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services import preprocess as pp

HARNESS = Path(__file__).with_name("js_prep_harness.js")
MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def coverage(width: int, height: int, points: list[tuple[float, float]], radius: float,
             closed: bool = False) -> np.ndarray:
    """(height, width) float in [0, 1]: an anti-aliased pen stroke of ``radius`` pixels through
    ``points`` (x, y), as a drawing canvas paints it (coverage falls off over one pixel)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    dist = np.full((height, width), np.inf)
    pts = points + points[:1] if closed else points
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
        dist = np.minimum(dist, np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy)))
    return np.clip(radius + 0.5 - dist, 0.0, 1.0)


def ring(cx: float, cy: float, rx: float, ry: float, n: int = 48) -> list[tuple[float, float]]:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return [(cx + rx * np.cos(t), cy + ry * np.sin(t)) for t in a]


def paint(cov: np.ndarray, ink: tuple[int, ...], paper: tuple[int, ...] | None) -> np.ndarray:
    """Coverage -> pixels: ink over paper (its channel count), or over transparency (RGBA,
    ``paper`` None) as strokes on an untouched canvas."""
    c = cov[..., None]
    if paper is None:
        rgb = np.broadcast_to(np.array(ink[:3], dtype=np.float64), (*cov.shape, 3))
        return np.concatenate([rgb, 255 * c], axis=-1).round().astype(np.uint8)
    out = c * np.array(ink, dtype=np.float64) + (1 - c) * np.array(paper, dtype=np.float64)
    out = out.round().astype(np.uint8)
    return out[..., 0] if len(paper) == 1 else out


ONE = [(150, 60), (140, 230)]
SCRIBBLE = [(30, 40), (70, 30), (55, 70), (90, 95), (40, 110)]
DRAWINGS = {
    # name: (pixels, what it exercises)
    "one-white-on-black-280": paint(coverage(280, 280, ONE, 11), (255,), (0,)),  # BOX reduction 280 -> 256
    "zero-black-on-white-rgba-280": paint(coverage(280, 280, ring(140, 140, 70, 95), 9, closed=True),
                                          (0, 0, 0, 255), (255, 255, 255, 255)),
    "scribble-on-transparent-200": paint(coverage(200, 200, SCRIBBLE, 6), (20, 20, 20), None),  # flatten over white
    "light-ink-on-transparent-300": paint(coverage(300, 300, ring(90, 200, 40, 60), 12, closed=True),
                                          (250, 250, 250), None),  # premultiplied reduction, over black
    "blue-on-white-rgb-300x240": paint(coverage(300, 240, ONE, 14), (30, 60, 200), (255, 255, 255)),
    "tall-grey-paper-200x600": paint(coverage(200, 600, [(100, 100), (60, 500)], 20), (60,), (200,)),  # y first
    "tiny-mark-256": paint(coverage(256, 256, [(120, 120), (126, 130), (121, 133)], 1.5), (255,), (0,)),  # upscaled
}
BLANK_CANVASES = {
    "transparent": np.zeros((280, 280, 4), np.uint8),
    "white": np.full((200, 200, 4), 255, np.uint8),
    "black": np.zeros((200, 200), np.uint8),
    "faint": np.full((100, 100), 40, np.uint8) + np.eye(100, dtype=np.uint8) * 10,  # below the contrast floor
}


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, MODES[1 if arr.ndim == 2 else arr.shape[2]]).save(buf, format="PNG")
    return buf.getvalue()


def _js(node: str, drawings: list[tuple[np.ndarray, dict]]) -> list[dict]:
    jobs = [{"width": a.shape[1], "height": a.shape[0], "channels": 1 if a.ndim == 2 else a.shape[2],
             "data": base64.b64encode(a.tobytes()).decode("ascii"), "opts": opts} for a, opts in drawings]
    out = subprocess.run([node, str(HARNESS)], input=json.dumps(jobs), capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _array(step: dict) -> np.ndarray:
    a = np.frombuffer(base64.b64decode(step["data"]), np.uint8)
    shape = (step["height"], step["width"]) + ((3,) if step["channels"] == 3 else ())
    return a.reshape(shape)


def _max_step_diff(py: pp.Prepared, js: dict) -> int:
    """Same captions and sizes step for step; the largest pixel difference over all steps."""
    assert [c for c, _ in py.steps] == [s["caption"] for s in js["steps"]]
    worst = 0
    for (_, ref), step in zip(py.steps, js["steps"]):
        got = _array(step)
        assert got.shape == ref.shape
        worst = max(worst, int(np.abs(got.astype(int) - ref.astype(int)).max()))
    image = np.array(js["image"], dtype=np.float32).reshape(py.tensor.shape[-2:])
    assert np.abs(image - py.tensor[0, 0].numpy()).max() <= 1 / 255 + 1e-6
    return worst


CASES = [(name, {}) for name in DRAWINGS] + [
    ("zero-black-on-white-rgba-280", {"style": "fit"}),
    ("scribble-on-transparent-200", {"style": "resize"}),
    ("one-white-on-black-280", {"invert": "yes"}),
    ("blue-on-white-rgb-300x240", {"invert": "no"}),
    ("tall-grey-paper-200x600", {"height": 20, "width": 16}),
]


def test_js_prep_matches_the_server_step_by_step(node):
    js = _js(node, [(DRAWINGS[name], opts) for name, opts in CASES])
    for (name, opts), got in zip(CASES, js):
        py = pp.prepare(_png(DRAWINGS[name]), (1, opts.get("height", 28), opts.get("width", 28)),
                        opts.get("style", "mnist"), opts.get("invert", "auto"))
        assert got["ok"] and not got["blank"], name
        assert _max_step_diff(py, got) <= 1, (name, opts)


def test_the_drawings_take_the_paths_they_are_meant_to(node):
    """The cases cover inversion, levelling, reduction (both pass orders) and an upscaled fit."""
    steps = {name: [s["caption"] for s in got["steps"]] for (name, opts), got in
             zip(CASES, _js(node, [(DRAWINGS[name], opts) for name, opts in CASES])) if not opts}
    assert "inverted (light background)" in steps["zero-black-on-white-rgba-280"]
    assert "inverted (light background)" in steps["scribble-on-transparent-200"]  # flattened over white
    assert "inverted (light background)" not in steps["light-ink-on-transparent-300"]  # over black
    assert "background to black, contrast stretched" in steps["tall-grey-paper-200x600"]
    sizes = {name: pp.prepare(_png(a), (1, 28, 28)).steps for name, a in DRAWINGS.items()}
    assert sizes["one-white-on-black-280"][0][1].shape[:2] == (256, 256)  # reduced to the work size
    assert sizes["tall-grey-paper-200x600"][0][1].shape[:2] == (256, 85)
    tiny = dict(sizes["tiny-mark-256"])["cropped to content"]
    assert max(tiny.shape) < 20  # the fit scales it up


def _random_drawing(rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A random stroke of 1-5 points and 0.5-20 px radius, on a canvas of 20-420 px a side, in
    gray, RGB, RGBA over transparency or RGBA with any opacity, with any colours; a random
    style or inversion now and then. Many come out blank (no contrast)."""
    w, h = (int(v) for v in rng.integers(20, 420, 2))
    points = [(float(rng.uniform(0, w)), float(rng.uniform(0, h))) for _ in range(int(rng.integers(1, 6)))]
    cov = coverage(w, h, points, float(rng.uniform(0.5, 20)))
    channels = [1, 3, 4, 4][int(rng.integers(0, 4))]
    colour = [tuple(int(v) for v in rng.integers(0, 256, channels)) for _ in range(2)]
    arr = paint(cov, colour[0], None if channels == 4 and rng.random() < 0.5 else colour[1])
    opts = [{}, {"style": "fit"}, {"style": "resize"}, {"invert": "yes"}, {"invert": "no"}][int(rng.integers(0, 5))]
    return arr, opts if rng.random() < 0.3 else {}


def test_js_prep_matches_the_server_on_random_drawings(node):
    cases = [_random_drawing(np.random.default_rng(seed)) for seed in range(60)]
    drawn = 0
    for (arr, opts), got in zip(cases, _js(node, cases)):
        try:
            py = pp.prepare(_png(arr), (1, 28, 28), opts.get("style", "mnist"), opts.get("invert", "auto"))
        except pp.ImageError as err:
            assert got["blank"] and got["message"] == str(err), (arr.shape, opts)
            continue
        drawn += 1
        assert got["ok"] and _max_step_diff(py, got) <= 1, (arr.shape, opts)
    assert drawn >= 30  # most of them are drawings, not blanks


@pytest.mark.parametrize("name", sorted(BLANK_CANVASES))
def test_an_empty_canvas_is_nothing_drawn_not_an_error(node, name):
    arr = BLANK_CANVASES[name]
    got = _js(node, [(arr, {})])[0]
    with pytest.raises(pp.ImageError) as err:
        pp.prepare(_png(arr), (1, 28, 28))
    assert not got["ok"] and got["blank"] and got["image"] is None
    assert got["message"] == str(err.value) == pp.BLANK
    assert got["steps"][0]["caption"] == "uploaded"


def test_js_prep_refuses_pixels_that_do_not_fit_the_size(node):
    job = [{"width": 10, "height": 10, "channels": 4, "data": base64.b64encode(bytes(399)).decode("ascii")}]
    out = subprocess.run([node, str(HARNESS)], input=json.dumps(job), capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode != 0 and "expected 10x10 pixels" in out.stderr
