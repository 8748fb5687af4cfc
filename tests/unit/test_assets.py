"""services.assets: content-addressed blobs in memory, bounded, and what the asset route answers."""
import hashlib
import threading

import pytest

from services import assets
from services.assets import BINARY_TYPE, CACHE_CONTROL, JS_TYPE, Registry


def test_publish_names_by_content_and_get_returns_bytes_and_type():
    reg = Registry()
    name = reg.publish(b"abc", ".bin", BINARY_TYPE)
    assert name == hashlib.sha256(b"abc").hexdigest()[:16] + ".bin" == assets.name_for(b"abc", ".bin")
    assert reg.get(name) == (b"abc", BINARY_TYPE)
    assert reg.publish(b"abc", ".bin", BINARY_TYPE) == name and reg.names() == [name]  # same bytes, same blob
    assert reg.publish(b"abd", ".bin", BINARY_TYPE) != name


def test_published_bytes_cannot_be_changed_through_the_callers_buffer():
    reg = Registry()
    buf = bytearray(b"weights")
    name = reg.publish(buf, ".bin", BINARY_TYPE)
    buf[0] = 0
    assert reg.get(name) == (b"weights", BINARY_TYPE)


@pytest.mark.parametrize("name", ["", "nope", "0" * 16, "0" * 16 + ".bin", "../../etc/passwd", "/etc/passwd",
                                  "%2e%2e%2fx", "\x00"])
def test_unknown_names_are_none(name):
    reg = Registry()
    reg.publish(b"x", ".bin", BINARY_TYPE)
    assert reg.get(name) is None and not reg.has(name)


@pytest.mark.parametrize("suffix", ["bin", ".BIN", "./x", ".a/b", ".toolongsuffix", ""])
def test_bad_suffixes_are_refused(suffix):
    with pytest.raises(ValueError, match="suffix"):
        Registry().publish(b"x", suffix, BINARY_TYPE)


def test_least_recently_used_unpinned_blobs_go_first_beyond_the_count():
    reg = Registry(max_blobs=3, max_bytes=10**6)
    pinned = reg.publish(b"code", ".js", JS_TYPE, pinned=True)
    a, b, c = (reg.publish(bytes([i]) * 10, ".bin", BINARY_TYPE) for i in range(3))
    assert reg.get(a) is not None  # a is now more recent than b
    d = reg.publish(b"d" * 10, ".bin", BINARY_TYPE)
    assert not reg.has(b) and all(reg.has(n) for n in (pinned, a, c, d))
    for i in range(10):
        reg.publish(bytes([100 + i]) * 10, ".bin", BINARY_TYPE)
    assert reg.has(pinned) and len(reg.names()) == 4  # the pinned blob and three others


def test_bytes_are_bounded_but_the_newest_blob_always_stays():
    reg = Registry(max_blobs=100, max_bytes=100)
    small = [reg.publish(bytes([i]) * 30, ".bin", BINARY_TYPE) for i in range(3)]
    assert all(reg.has(n) for n in small)
    big = reg.publish(b"x" * 70, ".bin", BINARY_TYPE)
    assert reg.has(big) and reg.has(small[2]) and not reg.has(small[0]) and not reg.has(small[1])
    huge = reg.publish(b"y" * 500, ".bin", BINARY_TYPE)
    assert reg.names() == [huge]


def test_republishing_pins_and_pinned_stays_pinned():
    reg = Registry(max_blobs=1, max_bytes=10**6)
    code = reg.publish(b"code", ".js", JS_TYPE)
    reg.publish(b"code", ".js", JS_TYPE, pinned=True)
    reg.publish(b"code", ".js", JS_TYPE)  # publishing again without pinned does not unpin
    for i in range(5):
        reg.publish(bytes([i]), ".bin", BINARY_TYPE)
    assert reg.has(code)


def test_concurrent_publishers_and_readers():
    reg = Registry(max_blobs=8, max_bytes=10**6)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(200):
                data = f"{k}-{i}".encode()
                name = reg.publish(data, ".bin", BINARY_TYPE)
                got = reg.get(name)
                assert got is None or got == (data, BINARY_TYPE)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(reg.names()) == 8


@pytest.fixture
def published():
    """Blobs in the process's registry (the one serve.py's route reads), removed afterwards."""
    names: list[str] = []
    yield names
    with assets.REGISTRY._lock:
        for n in names:
            assets.REGISTRY._blobs.pop(n, None)


def test_respond_serves_a_published_blob_with_immutable_caching(published):
    name = assets.publish(b"\x00\x01weights", ".bin", BINARY_TYPE)
    published.append(name)
    status, body, headers = assets.respond(name)
    assert (status, body) == (200, b"\x00\x01weights")
    assert headers["Content-Type"] == BINARY_TYPE and headers["Cache-Control"] == CACHE_CONTROL
    assert "immutable" in CACHE_CONTROL and "max-age=31536000" in CACHE_CONTROL
    assert assets.url(name) == f"/_vae/assets/{name}"


@pytest.mark.parametrize("name", ["0123456789abcdef.bin", "../serve.py", "..%2Fserve.py", "README.md", "x" * 5000])
def test_respond_404_for_anything_not_published(name):
    status, body, headers = assets.respond(name)
    assert status == 404 and "immutable" not in headers["Cache-Control"]


def test_mounted_flag():
    assert not assets.mounted()  # the tests run app.py's modules without serve.py
    try:
        assets.set_mounted(True)
        assert assets.mounted()
    finally:
        assets.set_mounted(False)
    assert not assets.mounted()
