"""services.preprocess made cheap: large uploads reduced right after decoding (memory measured
with tracemalloc, never time), animations not walked frame by frame, results cached by content,
and at most MAX_DECODES decodes at once."""
from __future__ import annotations

import io
import threading
import time
import tracemalloc

import numpy as np
import pytest
from PIL import GifImagePlugin, Image, ImageDraw, JpegImagePlugin

from services import preprocess as pp

MNIST = (1, 28, 28)


@pytest.fixture(autouse=True)
def _fresh_cache():
    pp.clear_cache()
    yield
    pp.clear_cache()


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def ring(size: tuple[int, int], paper: int = 255, ink: int = 0) -> Image.Image:
    """A dark ring on light paper, scaled to ``size`` (w, h)."""
    w, h = size
    im = Image.new("L", size, paper)
    ImageDraw.Draw(im).ellipse((w * 0.2, h * 0.15, w * 0.8, h * 0.85), outline=ink, width=max(1, w // 12))
    return im


def out(p: pp.Prepared) -> np.ndarray:
    return (p.tensor[0, 0] * 255).round().numpy()


def many_frame_gif(frames: int) -> bytes:
    """A ring as the first frame, then ``frames`` 1x1 frames of 15 bytes each."""
    head = encode(ring((90, 120)), "GIF")
    frame = b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00" + b"\x02\x02\x44\x01\x00"
    return head[:-1] + frame * frames + b";"


# ---------------------------------------------------------------- large images reduced early

@pytest.fixture(scope="module")
def big_png16() -> bytes:
    """A 4000x4000 16-bit PNG (16 megapixels, the limit) of a dark ring on white: a few dozen kB."""
    arr = np.asarray(ring((4000, 4000)), dtype=np.uint16) * 257
    data = encode(Image.fromarray(arr))
    assert Image.open(io.BytesIO(data)).mode == "I;16" and len(data) < pp.MAX_BYTES
    return data


def test_big_16_bit_png_is_reduced_before_the_heavy_steps(big_png16):
    """Scaling 16 bits to 8 went through a float64 copy of all 16 M pixels (128 MB, several
    hundred MB in all); the image is now reduced first, so Python-side memory stays small."""
    tracemalloc.start()
    try:
        p = pp.prepare(big_png16, MNIST)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 * 2**20, f"{peak / 2**20:.0f} MiB"
    assert max(p.steps[0][1].shape) == max(pp.WORK_MIN, pp.WORK_FACTOR * 28)
    assert p.notes == ["16-bit grayscale image: scaled to 8 bits per pixel."]
    small = pp.prepare(encode(ring((400, 400))), MNIST)
    assert np.abs(out(small) - out(p)).mean() < 6  # the same picture, prepared the same way


def test_large_jpeg_is_decoded_reduced_and_still_upright(monkeypatch):
    """A 3000x2000 JPEG with EXIF orientation 6 (stored turned): draft() asks the decoder for a
    reduced scale, and the picture is still rotated upright."""
    asked = []
    original = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda self, mode, size: (asked.append(size), original(self, mode, size))[1])
    arr = np.full((2000, 3000), 255, dtype=np.uint8)
    arr[:500, :1000] = 0  # dark block top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(arr), "JPEG", quality=90, exif=exif.tobytes())
    p = pp.prepare(data, MNIST, style="resize", invert="no")
    assert asked == [(256, 256)]
    shown = p.steps[0][1]
    assert shown.shape[:2] == (256, 171)  # upright: taller than wide, longer side 256
    assert shown[:40, -50:].mean() < 40 and shown[:40, :50].mean() > 215  # block now top-right


def test_small_images_are_not_resampled():
    im = ring((90, 120))
    p = pp.prepare(encode(im), MNIST)
    assert np.array_equal(p.steps[0][1][..., 0], np.asarray(im))


# ---------------------------------------------------------------- animations

def test_animated_gif_is_not_walked_frame_by_frame(monkeypatch):
    def walk(self):
        raise AssertionError("n_frames walks every frame")

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "n_frames", property(walk))
    data = many_frame_gif(20_000)
    p = pp.prepare(data, MNIST)
    assert p.notes == [pp.ANIMATION]
    assert np.abs(out(p) - out(pp.prepare(encode(ring((90, 120))), MNIST))).mean() < 1


def test_still_gif_has_no_note():
    assert pp.prepare(encode(ring((90, 120)), "GIF"), MNIST).notes == []


# ---------------------------------------------------------------- the cache

def counting_decoder(monkeypatch) -> list[int]:
    calls = []
    original = pp._decode

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pp, "_decode", counted)
    return calls


def test_cache_hit_returns_the_same_object_without_decoding(monkeypatch):
    calls = counting_decoder(monkeypatch)
    data = encode(ring((90, 120)))
    first = pp.prepare(data, MNIST)
    assert pp.prepare(bytes(data), MNIST) is first and len(calls) == 1
    assert not first.steps[-1][1].flags.writeable  # shared: read-only
    assert pp.prepare(data, MNIST, style="fit") is not first and len(calls) == 2
    assert pp.prepare(data, (1, 32, 32)).tensor.shape == (1, 1, 32, 32) and len(calls) == 3
    assert pp.prepare(data, MNIST, invert="no") is not first and len(calls) == 4
    assert pp.prepare(data, MNIST) is first and len(calls) == 4


def test_refusals_are_cached_too(monkeypatch):
    calls = counting_decoder(monkeypatch)
    blank = encode(Image.new("L", (50, 40), 255))
    for _ in range(3):
        with pytest.raises(pp.ImageError, match="looks blank"):
            pp.prepare(blank, MNIST)
    assert len(calls) == 1


def test_cache_is_bounded_least_recently_used_first(monkeypatch):
    monkeypatch.setattr(pp, "CACHE_ENTRIES", 2)
    calls = counting_decoder(monkeypatch)
    a, b, c = (encode(ring((90 + i, 120))) for i in range(3))
    pp.prepare(a, MNIST)
    pp.prepare(b, MNIST)
    pp.prepare(a, MNIST)  # a is now the most recent
    pp.prepare(c, MNIST)  # evicts b
    assert len(calls) == 3
    pp.prepare(a, MNIST)
    assert len(calls) == 3
    pp.prepare(b, MNIST)
    assert len(calls) == 4


def test_concurrent_calls_agree():
    data = encode(ring((300, 200)))
    results: list[pp.Prepared] = []
    threads = [threading.Thread(target=lambda: results.append(pp.prepare(data, MNIST))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 8
    assert all(np.array_equal(out(r), out(results[0])) for r in results)


# ---------------------------------------------------------------- at most MAX_DECODES at once

def test_decodes_are_bounded(monkeypatch):
    lock, gate = threading.Lock(), threading.Event()
    state = {"active": 0, "peak": 0}

    def slow_decode(data, notes, max_side):
        with lock:
            state["active"] += 1
            state["peak"] = max(state["peak"], state["active"])
        gate.wait(10)
        with lock:
            state["active"] -= 1
        return ring((90, 120))

    monkeypatch.setattr(pp, "_decode", slow_decode)
    files = [encode(ring((90 + i, 120))) for i in range(6)]  # distinct: no cache hits
    threads = [threading.Thread(target=pp.prepare, args=(f, MNIST)) for f in files]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while state["active"] < pp.MAX_DECODES and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # room for any thread the semaphore failed to hold back
    assert state["peak"] == pp.MAX_DECODES == 2
    gate.set()
    for t in threads:
        t.join(10)
    assert state["active"] == 0 and state["peak"] == 2


def test_busy_is_said_and_not_cached(monkeypatch):
    monkeypatch.setattr(pp, "DECODE_WAIT_S", 0.01)
    data = encode(ring((90, 120)))
    held = [pp._DECODES.acquire(timeout=1) for _ in range(pp.MAX_DECODES)]
    try:
        assert all(held)
        with pytest.raises(pp.ImageError) as e:
            pp.prepare(data, MNIST)
        assert str(e.value) == pp.BUSY
    finally:
        for _ in held:
            pp._DECODES.release()
    assert pp.prepare(data, MNIST).tensor.shape == (1, 1, 28, 28)
