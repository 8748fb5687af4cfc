"""services.uploads: hostile zips (slip names, bombs, encrypted, unknown compression, CRC errors,
clashes), extraction once per content, quota eviction and age cleanup, ``is_server_upload``; and
the folder loader skipping files of other formats renamed ``.png``."""
from __future__ import annotations

import dataclasses
import io
import os
import struct
import time
import zipfile

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image, PsdImagePlugin, TiffImagePlugin

from services import uploads
from vae import settings
from vae.data.folder import load_folder
from vae.registry import load_dataset

LIMITS = dataclasses.replace(settings.limits({}), uploads_quota_mb=1, uploads_max_age_h=24)


def zip_of(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # a fixed date: same bytes, same zip
            zf.writestr(info, data, compress_type=method)
    return buf.getvalue()


def png(value: int = 128, size: tuple[int, int] = (12, 10)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full(size[::-1], value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def noise(n: int, seed: int = 0) -> bytes:
    """Incompressible bytes (a '.png' member: extraction does not decode)."""
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def refused(data: bytes, root, match: str, limits: settings.Limits = LIMITS) -> str:
    """The UploadError message; also checks no server path leaks and nothing is left behind."""
    with pytest.raises(uploads.UploadError, match=match) as info:
        uploads.extract_upload(data, root, limits)
    message = str(info.value)
    assert str(root) not in message and "/tmp" not in message
    assert not root.exists() or list(root.iterdir()) == []  # no temporary folder, no partial dataset
    return message


def central_offset(data: bytes) -> int:
    """Offset of the first central-directory entry."""
    pos = data.rindex(b"PK\x05\x06")
    return struct.unpack("<I", data[pos + 16:pos + 20])[0]


def patch(data: bytes, local: int, central: int, value: bytes) -> bytes:
    """Write ``value`` at field offset ``local`` of the first local header and ``central`` of the
    first central-directory entry (both headers must agree for zipfile)."""
    out = bytearray(data)
    out[local:local + len(value)] = value
    c = central_offset(data) + central
    out[c:c + len(value)] = value
    return bytes(out)


# ---------------------------------------------------------------- a good zip, once

def test_zip_of_images_becomes_a_folder_dataset_once(tmp_path, monkeypatch):
    root = tmp_path / "uploads"
    monkeypatch.setenv("VAE_UPLOADS_DIR", str(root))
    data = zip_of({"cats/a.png": png(10), "cats/b.png": png(20), "dogs/c.png": png(30), "dogs/d.png": png(40),
                   "readme.txt": b"ignored", "x.tif": b"ignored", "__MACOSX/cats/._a.png": b"junk"})
    path = uploads.extract_upload(data, root, LIMITS)
    assert path.parent == root and uploads.FOLDER_NAME.fullmatch(path.name)
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) == [
        ".vae-upload", "cats/a.png", "cats/b.png", "dogs/c.png", "dogs/d.png"]
    d = load_dataset(f"folder:{path}", "train")
    assert d.classes == ("cats", "dogs") and len(d) == 3
    assert str(root) not in d.source and "uploaded zip dataset" in d.source
    marker, image = path / uploads.MARKER, path / "cats" / "a.png"
    before = image.stat()
    os.utime(marker, (time.time() - 3600, time.time() - 3600))
    old_use = marker.stat().st_mtime

    def no_unpack(*args, **kwargs):
        raise AssertionError("unpacked again")

    monkeypatch.setattr(uploads, "_unpack", no_unpack)
    assert uploads.extract_upload(data, root, LIMITS) == path
    after = image.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert marker.stat().st_mtime > old_use + 3000  # use time touched
    assert [p.name for p in root.iterdir()] == [path.name]


def test_folder_loader_skips_other_formats_renamed_png(tmp_path, monkeypatch):
    """TIFF, EPS and PSD bytes named .png are skipped and counted; their decoders never run."""
    tiff = io.BytesIO()
    Image.new("L", (12, 10), 200).save(tiff, format="TIFF")
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 12 10\nshowpage\n"
    psd = b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 1, 10, 12, 8, 1) + b"\x00" * 64
    data = zip_of({"a.png": png(10), "b.png": png(90), "tiff.png": tiff.getvalue(), "eps.png": eps,
                   "psd.png": psd, "text.png": b"hello"})
    called = []
    for plugin in (TiffImagePlugin.TiffImageFile, EpsImagePlugin.EpsImageFile, PsdImagePlugin.PsdImageFile):
        original = plugin._open
        monkeypatch.setattr(plugin, "_open", lambda self, o=original: (called.append(type(self).__name__), o(self)))
    path = uploads.extract_upload(data, tmp_path / "uploads", LIMITS)
    d = load_folder(path, "train")
    assert len(d) == 1 and "4 unreadable file(s) skipped" in d.source
    assert called == []


# ---------------------------------------------------------------- hostile names and structure

@pytest.mark.parametrize("name", ["../x.png", "/abs.png", "C:\\x.png", "C:x.png", "..\\x.png", "\\abs.png",
                                  "a/../../x.png", "ok/..\\..\\x.png", "new\nline.png"])
def test_zip_slip_names_are_refused(tmp_path, name):
    root = tmp_path / "deep" / "uploads"
    message = refused(zip_of({"fine.png": png(), name: png()}), root, "unsafe member name")
    assert repr(name) in message
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


def test_long_names_are_cut_in_messages(tmp_path):
    name = "../" + "a" * 300 + ".png"
    message = refused(zip_of({name: png()}), tmp_path / "u", "unsafe member name")
    assert "a" * 90 not in message and "..." in message


@pytest.mark.parametrize("data", [b"", b"PK but not really", noise(5000), zip_of({"a.png": png()})[:-30]])
def test_not_a_zip(tmp_path, data):
    refused(data, tmp_path / "u", "the uploaded file is not a valid zip archive")


@pytest.mark.parametrize("entries, match", [
    ({"a.png": png(), "a.png/b.png": png()}, "both a file and a folder named 'a.png'"),
    ({"a/b.png": png(), "a\\b.png": png()}, "holds 'a/b.png' twice"),
    ({"notes.txt": b"x", ".hidden.png": png(), "__MACOSX/._a.png": b"x", "dir/": b""}, "no images"),
])
def test_clashes_and_no_images(tmp_path, entries, match):
    refused(zip_of(entries), tmp_path / "u", match)


def test_a_non_image_named_like_a_folder_is_no_clash(tmp_path):
    path = uploads.extract_upload(zip_of({"x/a": b"text", "x/a/b.png": png()}), tmp_path / "u", LIMITS)
    assert (path / "x" / "a" / "b.png").is_file()


def test_encrypted_member(tmp_path):
    data = patch(zip_of({"a.png": png()}), 6, 8, struct.pack("<H", 0x1))  # general-purpose flag bit 0
    refused(data, tmp_path / "u", r"encrypted \(password-protected\) member: 'a.png'")


def test_unknown_compression_method(tmp_path):
    data = patch(zip_of({"a.png": png()}), 8, 10, struct.pack("<H", 99))
    refused(data, tmp_path / "u", r"compression method this server cannot unpack \(method 99\)")


def test_crc_error(tmp_path):
    good = zip_of({"a.png": png(), "b.png": png(3)}, method=zipfile.ZIP_STORED)
    start = 30 + len("a.png") + struct.unpack("<H", good[28:30])[0]
    data = bytearray(good)
    data[start + 40] ^= 0xFF
    refused(bytes(data), tmp_path / "u", r"damaged: member 'a.png' fails its checksum \(CRC\)")


def test_damaged_deflate_stream(tmp_path):
    good = zip_of({"a.png": noise(20_000)})
    data = bytearray(good)
    data[60:90] = b"\xff" * 30
    refused(bytes(data), tmp_path / "u", r"damaged: member 'a.png' (cannot be unpacked|fails its checksum)")


# ---------------------------------------------------------------- bombs and counts

def test_honest_bomb_refused_from_its_sizes(tmp_path, monkeypatch):
    data = zip_of({"bomb.png": b"\0" * (3 * 2**20)})
    assert len(data) < 10_000
    monkeypatch.setattr(uploads, "_unpack", lambda *a: pytest.fail("a declared bomb must not be unpacked"))
    refused(data, tmp_path / "u", "unpacks to more than 1 MB, the space this server keeps for uploaded datasets")


def test_headers_that_lie_small_inflate_no_further(tmp_path):
    """Sizes patched to claim 100 bytes: zipfile stops there and the CRC fails; nothing big is written."""
    data = zip_of({"bomb.png": b"\0" * (3 * 2**20)})
    data = patch(data, 22, 24, struct.pack("<I", 100))  # uncompressed size
    refused(data, tmp_path / "u", "damaged: member 'bomb.png'")


def test_bytes_are_counted_as_read(tmp_path, monkeypatch):
    """Were the declared sizes ever wrong, the bytes actually inflated still stop the unpacking."""
    real_plan = uploads._plan
    monkeypatch.setattr(uploads, "_plan", lambda zf, budget, quota: real_plan(zf, 2**40, 2**40))
    monkeypatch.setattr(uploads, "MAX_INFLATED", 2**20)
    data = zip_of({"a.png": b"\0" * 2**19, "b.png": b"\0" * 2**19, "c.png": b"\0" * 2**19})
    roomy = dataclasses.replace(LIMITS, uploads_quota_mb=10)
    refused(data, tmp_path / "u", "unpacks to more than 1 MB; at most 1 MB are allowed", limits=roomy)


def test_too_many_files(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_FILES", 5)
    refused(zip_of({f"{i}.png": png(i) for i in range(6)}), tmp_path / "u", "holds 6 images; at most 5")
    monkeypatch.setattr(uploads, "MAX_ENTRIES", 5)
    refused(zip_of({f"{i}.txt": b"" for i in range(6)}), tmp_path / "u", "too many files")


def test_uploads_turned_off(tmp_path):
    off = dataclasses.replace(LIMITS, uploads_quota_mb=0)
    refused(zip_of({"a.png": png()}), tmp_path / "u", "turned off", limits=off)


# ---------------------------------------------------------------- quota and age

def _upload(root, seed: int, used: float, kb: int = 300):
    path = uploads.extract_upload(zip_of({"a.png": noise(kb * 1024, seed)}), root, LIMITS)
    os.utime(path / uploads.MARKER, (used, used))
    return path


def test_quota_evicts_the_oldest_used(tmp_path):
    root, now = tmp_path / "u", time.time()
    a, b, c = (_upload(root, seed, now - 300 + 100 * seed) for seed in range(3))
    assert uploads.extract_upload(zip_of({"a.png": noise(300 * 1024, 0)}), root, LIMITS) == a  # used again
    d = _upload(root, 3, now)
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in (a, c, d))  # b was least recent
    assert not b.exists()
    refused_root = tmp_path / "other"
    refused(zip_of({"big.png": noise(1100 * 1024)}), refused_root, "more than 1 MB, the space this server keeps")


def test_cleanup_by_age_touches_only_server_folders(tmp_path):
    root, now = tmp_path / "u", time.time()
    old, fresh = _upload(root, 0, now, kb=10), _upload(root, 1, now - 3600, kb=10)
    os.utime(old / uploads.MARKER, (now - 25 * 3600, now - 25 * 3600))
    (root / "mine").mkdir()
    (root / "zip-0123456789abcdef").mkdir()  # no marker: not made by the server
    stale, live = root / ".partial-x", root / ".partial-y"
    stale.mkdir()
    live.mkdir()
    os.utime(stale, (now - 2 * 3600, now - 2 * 3600))
    assert uploads.cleanup(root, LIMITS, now=now) == [old.name]
    assert sorted(p.name for p in root.iterdir()) == sorted([fresh.name, "mine", "zip-0123456789abcdef",
                                                             ".partial-y"])
    forever = dataclasses.replace(LIMITS, uploads_max_age_h=0)
    assert uploads.cleanup(root, forever, now=now + 1e6) == []
    assert uploads.cleanup(root, LIMITS, now=now + 24 * 3600) == [fresh.name]


# ---------------------------------------------------------------- is_server_upload

def test_is_server_upload(tmp_path):
    root = tmp_path / "u"
    path = uploads.extract_upload(zip_of({"a.png": png()}), root, LIMITS)
    assert uploads.is_server_upload(path, root) and uploads.is_server_upload(str(path), root)
    outside = tmp_path / "elsewhere" / "zip-aaaaaaaaaaaaaaaa"
    outside.mkdir(parents=True)
    (outside / uploads.MARKER).write_text("{}")
    (root / "zip-bbbbbbbbbbbbbbbb").symlink_to(outside)
    incomplete = root / "zip-cccccccccccccccc"
    incomplete.mkdir()
    linked_marker = root / "zip-dddddddddddddddd"
    linked_marker.mkdir()
    (linked_marker / uploads.MARKER).symlink_to(path / uploads.MARKER)
    (root / "link-in").symlink_to(path)
    for bad in ["/etc", root, f"{root}/", root / ".." / root.name / path.name, path / "..", outside,
                root / "zip-bbbbbbbbbbbbbbbb", incomplete, linked_marker, root / "missing", "", path / "a.png"]:
        assert not uploads.is_server_upload(bad, root), bad
    assert uploads.is_server_upload(root / "link-in", root)  # resolves into a real upload
