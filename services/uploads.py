"""Uploaded zip datasets: unpacked once per content into the uploads folder, safely, within a disk quota.

A zip becomes the folder ``ROOT/zip-<first 16 hex digits of its sha256>``. It is unpacked into a
hidden temporary sibling, a marker file (:data:`MARKER`, holding the folder's size) is written
last, and the folder is renamed into place: a folder with the marker is complete and made by
this server (:func:`is_server_upload`). The marker's modification time is the folder's last
use; :func:`cleanup` removes folders unused for ``uploads_max_age_h`` hours and, oldest-used
first, those over the ``uploads_quota_mb`` disk quota.

Only image members (:data:`vae.data.folder.IMAGE_SUFFIXES`) are written. Unsafe names, zip
bombs, encrypted or damaged members and the like raise :class:`UploadError`, whose message is
meant for the user and never holds a server path.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import struct
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from services.joblocks import FolderLock
from vae import settings
from vae.data.base import DatasetUnavailable
from vae.data.folder import IMAGE_SUFFIXES

MARKER = ".vae-upload"
PREFIX = "zip-"
DIGEST_CHARS = 16
FOLDER_NAME = re.compile(rf"{PREFIX}[0-9a-f]{{{DIGEST_CHARS}}}")
TEMP_PREFIX = ".partial-"
TEMP_MAX_AGE_S = 3600  # a temporary folder this old was left by a crash
MAX_FILES = 50_000  # images in one zip
MAX_ENTRIES = 65_535  # central-directory entries of any kind
MAX_DIRECTORY_BYTES = 16 * 2**20  # the central directory parsed before anything else
MAX_INFLATED = 500 * 2**20  # bytes unpacked from one zip, whatever the quota
BLOCK = 4096  # disk use of a file is counted in whole blocks
CHUNK = 2**20
NAME_CHARS = 80
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
           zipfile.ZIP_LZMA: "lzma"}
NOT_A_ZIP = "the uploaded file is not a valid zip archive"
STORE_FAILED = "the server could not store the uploaded zip (its disk may be full); please try again later"
SUFFIXES = ", ".join(sorted(IMAGE_SUFFIXES))

_LOCK = threading.Lock()  # guards _LOCKS
_LOCKS: dict[Path, FolderLock] = {}  # uploads root -> its lock


class UploadError(DatasetUnavailable):
    """The uploaded zip cannot be used; the message says why, without server paths."""


@dataclass(frozen=True)
class _Folder:
    path: Path
    used: float  # the marker's mtime
    size: int  # bytes on disk, in whole blocks


def _shown(name: str) -> str:
    """A member name for a message: at most :data:`NAME_CHARS` characters, quoted."""
    return repr(name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 3] + "...")


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


def _locked(root: Path) -> FolderLock:
    """Extractions, reuses and evictions one at a time, in this process and in every replica that
    shares the uploads folder (an ``flock`` on ``.ROOTNAME.lock`` beside it; re-entrant)."""
    with _LOCK:
        if root not in _LOCKS:
            root.mkdir(parents=True, exist_ok=True)
            _LOCKS[root] = FolderLock(root.parent / f".{root.name}.lock")
        return _LOCKS[root]


# ---------------------------------------------------------------- reading the zip

def _check_directory(data: bytes) -> None:
    """Refuse, from the end-of-central-directory record alone (as zipfile finds it), a zip whose
    directory is too big to parse cheaply (millions of tiny entries)."""
    end = len(data) - 22
    if end >= 0 and data[end:end + 4] == b"PK\x05\x06" and data[-2:] == b"\0\0":
        pos = end
    else:
        pos = data.rfind(b"PK\x05\x06", max(0, end - 65_536))
    if pos < 0 or pos + 22 > len(data):
        raise UploadError(NOT_A_ZIP)
    entries, size = struct.unpack("<HI", data[pos + 10:pos + 16])
    z64 = pos - 20 - 56
    if z64 >= 0 and data[pos - 20:pos - 16] == b"PK\x06\x07" and data[z64:z64 + 4] == b"PK\x06\x06":
        entries, size = struct.unpack("<QQ", data[z64 + 32:z64 + 48])
    if entries > MAX_ENTRIES or size > MAX_DIRECTORY_BYTES:
        raise UploadError(f"the uploaded zip holds too many files (at most {MAX_FILES} images)")


def _open_zip(data: bytes) -> zipfile.ZipFile:
    """The archive, or UploadError when it is not a zip."""
    _check_directory(data)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # BadZipFile, struct.error, EOFError, ValueError... all mean the same here
        raise UploadError(NOT_A_ZIP) from None
    if len(zf.infolist()) > MAX_ENTRIES:
        raise UploadError(f"the uploaded zip holds too many files (at most {MAX_FILES} images)")
    return zf


def _safe_parts(name: str) -> tuple[str, ...]:
    """The member's path as parts; backslashes count as separators. Raises UploadError for an
    absolute path, a drive letter, '..', control characters or over-long names."""
    parts = name.replace("\\", "/").split("/")
    unsafe = (parts[0] == "" and len(parts) > 1) or re.match(r"^[A-Za-z]:", parts[0]) is not None
    unsafe = unsafe or ".." in parts or any(ord(c) < 32 for c in name)
    if unsafe:
        raise UploadError(f"the uploaded zip has an unsafe member name: {_shown(name)} (absolute paths, "
                          "drive letters and '..' are refused)")
    kept = tuple(p for p in parts if p not in ("", "."))
    if len(name) > 1024 or any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in kept):
        raise UploadError(f"the uploaded zip has a member name that is too long: {_shown(name)}")
    return kept


def _is_image(parts: tuple[str, ...]) -> bool:
    """An image to unpack: an image suffix, no hidden part, nothing under macOS's ``__MACOSX``."""
    if not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return Path(parts[-1]).suffix.lower() in IMAGE_SUFFIXES


def _check_member(info: zipfile.ZipInfo) -> None:
    """Encrypted members and unknown compression methods are refused before any reading."""
    if info.flag_bits & 0x1:
        raise UploadError(f"the uploaded zip has an encrypted (password-protected) member: {_shown(info.filename)};"
                          " zip the images without a password")
    if info.compress_type not in METHODS:
        raise UploadError(f"the uploaded zip uses a compression method this server cannot unpack (method "
                          f"{info.compress_type}) for {_shown(info.filename)}; use standard (deflate) compression")


def _check_clashes(paths: list[tuple[str, ...]]) -> None:
    """Refuse a name used twice, or used both as a file and as a folder (``a`` and ``a/b.png``)."""
    files: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    for parts in paths:
        if parts in files:
            raise UploadError(f"the uploaded zip holds {_shown('/'.join(parts))} twice")
        files.add(parts)
        folders.update(parts[:i] for i in range(1, len(parts)))
    clash = files & folders
    if clash:
        raise UploadError(f"the uploaded zip has both a file and a folder named {_shown('/'.join(min(clash)))}")


def _plan(zf: zipfile.ZipFile, budget: int, quota: int) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The image members to unpack and their paths, every name and header checked first."""
    members = []
    for info in zf.infolist():
        parts = _safe_parts(info.filename)
        if info.is_dir() or not _is_image(parts):
            continue
        _check_member(info)
        members.append((info, parts))
    if not members:
        raise UploadError(f"the uploaded zip holds no images ({SUFFIXES})")
    if len(members) > MAX_FILES:
        raise UploadError(f"the uploaded zip holds {len(members)} images; at most {MAX_FILES} are allowed")
    _check_clashes([parts for _, parts in members])
    if sum(info.file_size for info, _ in members) > budget:
        raise _too_large(budget, quota)
    return members


def _too_large(budget: int, quota: int) -> UploadError:
    if budget >= quota:
        return UploadError(f"the uploaded zip unpacks to more than {_mb(quota)}, the space this server keeps "
                           "for uploaded datasets")
    return UploadError(f"the uploaded zip unpacks to more than {_mb(budget)}; at most {_mb(budget)} are allowed")


# ---------------------------------------------------------------- unpacking

def _member_error(exc: BaseException, info: zipfile.ZipInfo) -> UploadError:
    """What a failure while reading a member means, in words."""
    name = _shown(info.filename)
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in str(exc):
        return UploadError(f"the uploaded zip is damaged: member {name} fails its checksum (CRC)")
    if isinstance(exc, NotImplementedError) or (isinstance(exc, RuntimeError) and "requires" in str(exc)):
        return UploadError(f"the uploaded zip uses a compression method this server cannot unpack for {name}")
    if isinstance(exc, RuntimeError) and "password" in str(exc):
        return UploadError(f"the uploaded zip has an encrypted (password-protected) member: {name}")
    return UploadError(f"the uploaded zip is damaged: member {name} cannot be unpacked")


def _read(src: io.BufferedIOBase, info: zipfile.ZipInfo) -> bytes:
    """The next chunk of a member; any failure of the zip's data becomes an UploadError."""
    try:
        return src.read(CHUNK)
    except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError, LZMAError, OSError from bz2...
        raise _member_error(exc, info) from None


class _Overflow(Exception):
    """More bytes than the budget came out of the zip."""


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, left: int) -> int:
    """Inflate one member into ``target`` (a new file), at most ``left`` bytes; returns the bytes
    written, counted as they are read (the header's sizes are not trusted)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(target, "xb") as out:  # "x": never an existing file, never through a link
        try:
            src = zf.open(info)
        except Exception as exc:
            raise _member_error(exc, info) from None
        with src:
            while chunk := _read(src, info):
                written += len(chunk)
                if written > left:
                    raise _Overflow
                out.write(chunk)
    return written


def _unpack(zf: zipfile.ZipFile, members: list, tmp: Path, budget: int, quota: int) -> int:
    """Unpack ``members`` into the new folder ``tmp``, the marker last; returns the disk bytes."""
    tmp.mkdir()
    inflated = disk = 0
    try:
        for info, parts in members:
            n = _copy_member(zf, info, tmp.joinpath(*parts), budget - inflated)
            inflated += n
            disk += -(-max(n, 1) // BLOCK) * BLOCK
        (tmp / MARKER).write_text(json.dumps({"bytes": disk, "files": len(members)}), encoding="utf-8")
    except _Overflow:
        raise _too_large(budget, quota) from None
    except OSError:
        raise UploadError(STORE_FAILED) from None
    return disk


# ---------------------------------------------------------------- the uploads folder

def _complete(path: Path) -> bool:
    """A complete, server-made upload folder (by name and marker; no links)."""
    marker = path / MARKER
    return (FOLDER_NAME.fullmatch(path.name) is not None and path.is_dir() and not path.is_symlink()
            and marker.is_file() and not marker.is_symlink())


def _size(path: Path) -> int:
    """The disk bytes the marker records (walked again when the marker cannot be read)."""
    try:
        return int(json.loads((path / MARKER).read_text(encoding="utf-8"))["bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        return sum(-(-f.lstat().st_size // BLOCK) * BLOCK for f in path.rglob("*") if not f.is_dir())


def _folders(root: Path) -> list[_Folder]:
    """The complete upload folders in ``root``."""
    found = []
    for path in root.iterdir() if root.is_dir() else ():
        try:
            if _complete(path):
                found.append(_Folder(path, (path / MARKER).stat().st_mtime, _size(path)))
        except OSError:
            continue  # removed meanwhile
    return found


def _remove(path: Path) -> None:
    if path.is_symlink():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _evict(folders: list[_Folder], allowance: int) -> list[str]:
    """Remove the oldest-used folders until the rest take at most ``allowance`` bytes."""
    removed = []
    total = sum(f.size for f in folders)
    for f in sorted(folders, key=lambda f: f.used):
        if total <= allowance:
            break
        _remove(f.path)
        removed.append(f.path.name)
        total -= f.size
    return removed


def touch(path: Path) -> None:
    """Mark an upload folder as used now (it is then the last to be evicted)."""
    path = Path(path)
    if _complete(path):
        with contextlib.suppress(OSError):
            os.utime(path / MARKER, follow_symlinks=False)


def cleanup(root: Path | None = None, limits: settings.Limits | None = None, now: float | None = None) -> list[str]:
    """Remove upload folders unused for ``limits.uploads_max_age_h`` hours (0: no age limit),
    then the oldest-used until all fit in ``limits.uploads_quota_mb``, and temporary folders left
    by a crash. Only server-made folders are touched. Returns the names of the removed folders."""
    return _cleanup(Path(root) if root is not None else settings.uploads_dir(), limits or settings.limits(),
                    time.time() if now is None else now, keep=None)


def _cleanup(root: Path, limits: settings.Limits, now: float, keep: Path | None) -> list[str]:
    """:func:`cleanup`, never removing ``keep`` (the folder being handed out)."""
    if not root.is_dir():
        return []
    with _locked(root):
        for tmp in root.glob(f"{TEMP_PREFIX}*"):
            try:
                if now - tmp.lstat().st_mtime > TEMP_MAX_AGE_S:
                    _remove(tmp)
            except OSError:
                continue
        removed, kept, kept_size = [], [], 0
        max_age = limits.uploads_max_age_h * 3600
        for f in _folders(root):
            if f.path == keep:
                kept_size = f.size
            elif max_age and now - f.used > max_age:
                _remove(f.path)
                removed.append(f.path.name)
            else:
                kept.append(f)
        return removed + _evict(kept, limits.uploads_quota_mb * 2**20 - kept_size)


def is_server_upload(path: str | os.PathLike, root: Path | None = None) -> bool:
    """True only for a complete server-made upload folder directly inside the uploads root
    (after resolving links). The root itself, other folders, '..' paths: False."""
    try:
        if not os.fspath(path):
            return False
        raw = Path(path).expanduser()
        if ".." in raw.parts:
            return False
        base = (Path(root) if root is not None else settings.uploads_dir()).expanduser().resolve()
        real = raw.resolve(strict=True)
    except (OSError, RuntimeError, ValueError, TypeError):
        return False
    return real.parent == base and _complete(real)


def _place(tmp: Path, dest: Path, root: Path, limits: settings.Limits, disk: int) -> None:
    """Make room for ``disk`` bytes under the quota, then rename ``tmp`` to ``dest``."""
    quota = limits.uploads_quota_mb * 2**20
    if disk > quota:
        raise _too_large(quota, quota)
    _evict([f for f in _folders(root) if f.path.name != dest.name], quota - disk)
    if dest.exists() or dest.is_symlink():
        if _complete(dest):  # another session unpacked the same zip meanwhile
            _remove(tmp)
            return
        _remove(dest)  # a stale, incomplete folder of the same name
    os.rename(tmp, dest)


def extract_upload(data: bytes, root: Path | None = None, limits: settings.Limits | None = None) -> Path:
    """Unpack the uploaded zip ``data`` (once per content) and return its dataset folder,
    ``root/zip-<sha256 prefix>``; ``root`` defaults to :func:`vae.settings.uploads_dir`, ``limits``
    to :func:`vae.settings.limits`. Raises :class:`UploadError` with a message for the user."""
    root = Path(root) if root is not None else settings.uploads_dir()
    limits = limits or settings.limits()
    quota = limits.uploads_quota_mb * 2**20
    if quota <= 0:
        raise UploadError("uploading datasets is turned off on this server")
    digest = hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]
    dest = root / f"{PREFIX}{digest}"
    if _complete(dest):  # unpacked before (by any replica): reuse it, under the lock
        with _locked(root):
            if _complete(dest):
                touch(dest)
                _cleanup(root, limits, time.time(), keep=dest)
                return dest
    budget = min(MAX_INFLATED, quota)
    zf = _open_zip(data)
    members = _plan(zf, budget, quota)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{TEMP_PREFIX}{digest}-{uuid.uuid4().hex[:8]}"
    try:
        disk = _unpack(zf, members, tmp, budget, quota)
        with _locked(root):
            _place(tmp, dest, root, limits, disk)
            _cleanup(root, limits, time.time(), keep=dest)
    except OSError:
        raise UploadError(STORE_FAILED) from None
    finally:
        _remove(tmp)
    return dest
