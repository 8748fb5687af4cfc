"""t-SNE maps of posterior means, computed once per model and cached on disk beside it.

t-SNE (van der Maaten & Hinton 2008, "Visualizing Data using t-SNE", JMLR 9) places N points in
2-D so that p_ij, the Gaussian neighbour probabilities of the high-dimensional points (each
point's bandwidth set by the perplexity, 2^H(P_i) = 30), match q_ij = (1 + |y_i - y_j|^2)^-1 /
sum_{k != l} (1 + |y_k - y_l|^2)^-1, minimising KL(P || Q) by gradient descent (the first 250
iterations with P multiplied by 12: early exaggeration). It is computed by openTSNE (Poličar,
Stražar & Zupan 2024, J. Stat. Softw. 109(3)): on mnist-20d's 10,000 test means it took 1.5x
less wall time and 1.8x less CPU than scikit-learn at equal quality (``bench/tsne.py``).
openTSNE is imported only when a map is computed, so ``import vae`` stays fast.

The map has no inverse (no z for a point of the plane): it shows where codes land, nothing to
decode. :func:`cached_embed` keeps each map in ``<model folder>/tsne-<key>.npz`` (or, when that
folder is read-only, in the per-user cache folder); ``<key>`` hashes the weights' content, the
dataset, split and image ids (so the number of points) and the t-SNE settings. One computation
per key at a time: in a process every caller waits on (and sees the progress of) the same run;
across processes a lock file serialises them and the later ones read the first one's file.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from . import settings
from .checkpoint import WEIGHTS_FILE
from .data.base import ImageData

Progress = Callable[[float], None]

PERPLEXITY = 30.0
EARLY_ITER, EARLY_EXAGGERATION, MAIN_ITER = 250, 12.0, 500
CALLBACK_EVERY = 25  # iterations between progress reports
AFFINITY_SHARE = 0.1  # the progress share of the neighbour affinities (openTSNE reports steps only)
SETTINGS = {"package": "openTSNE", "perplexity": PERPLEXITY, "early_iter": EARLY_ITER,
            "early_exaggeration": EARLY_EXAGGERATION, "iter": MAIN_ITER, "init": "pca", "learning_rate": "auto",
            "neighbors": "exact", "format": 1}
PREFIX = "tsne-"
MEMO_ENTRIES = 16


def embed(means: np.ndarray, seed: int = 0, progress: Progress | None = None, n_jobs: int | None = None) -> np.ndarray:
    """t-SNE of ``means`` (N, D) float, N >= 2, into (N, 2) float32; the same for the same seed.

    ``progress`` is called with fractions in [0, 1], rising, the last one 1.0. ``n_jobs``:
    openTSNE's threads, default 1: on a busy shared machine its extra threads cost far more CPU
    than they save (300 points at load 14 on 2 cores: 0.4 CPU s with one thread, 12-16 with
    two). The perplexity is 30, lowered to (N - 1) / 3 for small N. Exact neighbours
    (deterministic; cheap at the sizes of a test set).
    """
    x = np.ascontiguousarray(means, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"t-SNE needs an (N, D) array with N >= 2, got shape {tuple(x.shape)}")
    if not np.isfinite(x).all():
        raise ValueError("t-SNE needs finite latent means; these contain NaN or infinity")
    report = progress or (lambda _f: None)
    report(0.0)
    n = x.shape[0]
    if n < 4:  # too few points for neighbour probabilities: a line in the data's main direction
        out = _tiny(x)
        report(1.0)
        return out
    from openTSNE import TSNE  # lazy: a heavy import, only when a map is computed

    calls = [0]
    total = (EARLY_ITER + MAIN_ITER) // CALLBACK_EVERY

    def on_step(_iteration: int, _error: float, _embedding: np.ndarray) -> bool:
        calls[0] += 1
        report(AFFINITY_SHARE + (1 - AFFINITY_SHARE) * min(1.0, calls[0] / total))
        return False

    tsne = TSNE(perplexity=min(PERPLEXITY, (n - 1) / 3.0), early_exaggeration_iter=EARLY_ITER,
                early_exaggeration=EARLY_EXAGGERATION, n_iter=MAIN_ITER, initialization="pca",
                learning_rate="auto", neighbors="exact", n_jobs=n_jobs or 1,
                random_state=int(seed), callbacks=[on_step], callbacks_every_iters=CALLBACK_EVERY, verbose=False)
    out = np.asarray(tsne.fit(x), dtype=np.float32)
    report(1.0)
    return out


def _tiny(x: np.ndarray) -> np.ndarray:
    """(N < 4, D) -> (N, 2): the points along their first principal direction, y = 0."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return np.stack([centred @ vt[0], np.zeros(len(x))], axis=1).astype(np.float32)


# --- the cache key ---------------------------------------------------------------------------

_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def weights_digest(model_dir: str | os.PathLike) -> str:
    """SHA-256 of the model's weights file (content, not mtime: a fresh checkout of a shipped
    model keeps its key); remembered per (path, mtime, size)."""
    path = Path(model_dir) / WEIGHTS_FILE
    st = path.stat()
    memo_key = (str(path), st.st_mtime_ns, st.st_size)
    with _digest_lock:
        if memo_key in _digests:
            return _digests[memo_key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    with _digest_lock:
        _digests[memo_key] = h.hexdigest()
    return h.hexdigest()


def cache_key(model_dir: str | os.PathLike, dataset: str, split: str, ids: np.ndarray, seed: int = 0) -> str:
    """16 hex digits naming one map: the weights' content, the dataset, split, the image ids
    (N,) (their number and order) and the t-SNE settings with ``seed``."""
    ids64 = np.ascontiguousarray(ids, dtype=np.int64)
    parts = {"weights": weights_digest(model_dir), "dataset": str(dataset), "split": str(split),
             "n": int(ids64.shape[0]), "ids": hashlib.sha256(ids64.tobytes()).hexdigest(),
             "tsne": SETTINGS, "seed": int(seed)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def default_fallback_dir() -> Path:
    """Where maps go when the model folder is read-only: ``tsne/`` in the per-user cache folder."""
    return settings.cache_dir() / "tsne"


def cache_files(model_dir: str | os.PathLike, key: str, fallback_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where the map ``key`` may be: beside the model first, then in the fallback folder."""
    name = f"{PREFIX}{key}.npz"
    return [Path(model_dir) / name, Path(fallback_dir or default_fallback_dir()) / name]


# --- reading and writing ---------------------------------------------------------------------

def read_map(path: Path, ids: np.ndarray) -> np.ndarray | None:
    """The (N, 2) float32 map in ``path`` if it is a well-formed cache file for these ``ids`` (N,);
    None when missing, truncated, tampered with (no pickles are loaded) or for other points."""
    ids64 = np.asarray(ids, dtype=np.int64)
    n = ids64.shape[0]
    expected = {"embedding.npy": n * 8, "ids.npy": n * 8}
    try:
        with np.load(path, allow_pickle=False) as npz:
            sizes = {info.filename: info.file_size for info in npz.zip.infolist()}
            if set(sizes) != set(expected) or any(sizes[k] > v + 4096 for k, v in expected.items()):
                return None  # other members, or members too large to be ours (a zip bomb)
            emb, saved_ids = npz["embedding"], npz["ids"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
        return None
    if emb.dtype != np.float32 or emb.shape != (n, 2) or saved_ids.dtype != np.int64 or saved_ids.shape != (n,):
        return None
    if not np.array_equal(saved_ids, ids64) or not np.isfinite(emb).all():
        return None
    emb.setflags(write=False)
    return emb


def write_map(path: Path, embedding: np.ndarray, ids: np.ndarray) -> None:
    """Write ``embedding`` (N, 2) float32 and ``ids`` (N,) to ``path`` atomically (a temp file in
    the same folder, then ``os.replace``); raises OSError when the folder is not writable."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, embedding=np.asarray(embedding, dtype=np.float32),
                                ids=np.asarray(ids, dtype=np.int64))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_memo: OrderedDict[str, np.ndarray] = OrderedDict()
_memo_lock = threading.Lock()


def _remember(key: str, emb: np.ndarray) -> None:
    with _memo_lock:
        _memo[key] = emb
        _memo.move_to_end(key)
        while len(_memo) > MEMO_ENTRIES:
            _memo.popitem(last=False)


def lookup(key: str, model_dir: str | os.PathLike, ids: np.ndarray,
           fallback_dir: str | os.PathLike | None = None) -> np.ndarray | None:
    """The map ``key`` (N, 2) if this process holds it or a valid cache file has it, else None."""
    with _memo_lock:
        hit = _memo.get(key)
    if hit is not None and hit.shape[0] == len(ids):
        return hit
    for path in cache_files(model_dir, key, fallback_dir):
        emb = read_map(path, ids)
        if emb is not None:
            _remember(key, emb)
            return emb
    return None


@contextlib.contextmanager
def _file_lock(folders: list[Path], key: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``.tsne-<key>.lock`` in the first folder that takes it (other
    processes computing the same map wait here). The file is removed once the map is stored: a
    process still waiting on it, or one that makes a new one, reads the stored map under its lock."""
    fd, path = None, None
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f".{PREFIX}{key}.lock"
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
            break
        except OSError:
            continue
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
        with contextlib.suppress(OSError):
            path.unlink()  # only after a success: the map is on disk for whoever comes next
    finally:
        os.close(fd)  # closing releases the lock


def _store(paths: list[Path], embedding: np.ndarray, ids: np.ndarray) -> Path | None:
    """Write the map to the first of ``paths`` that can be written; None when none can."""
    for path in paths:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_map(path, embedding, ids)
            return path
        except OSError:
            continue
    return None


# --- one computation per map -----------------------------------------------------------------

class _Job:
    """One map being computed in a background thread; any number of callers wait on it."""

    def __init__(self) -> None:
        self.fraction = 0.0
        self.done = threading.Event()
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None

    def report(self, fraction: float) -> None:
        self.fraction = max(self.fraction, min(1.0, float(fraction)))


_jobs: dict[str, _Job] = {}
_jobs_lock = threading.Lock()


def _run(job: _Job, key: str, means: np.ndarray, model_dir: Path, ids: np.ndarray, fallback: Path, seed: int,
         n_jobs: int | None) -> None:
    """The background thread's work: under the cross-process lock, read the file another
    process may have written meanwhile, else compute and store the map."""
    paths = cache_files(model_dir, key, fallback)
    try:
        with _file_lock([p.parent for p in paths], key):
            emb = lookup(key, model_dir, ids, fallback)
            if emb is None:
                emb = embed(means, seed, job.report, n_jobs)
                emb.setflags(write=False)
                _store(paths, emb, ids)  # a map no folder takes is still shown, and recomputed next time
                _remember(key, emb)
        job.result = emb
    except BaseException as exc:  # noqa: BLE001 - handed to every waiter
        job.error = exc
    finally:
        with _jobs_lock:
            _jobs.pop(key, None)
        job.done.set()


def cached_embed(means: np.ndarray, model_dir: str | os.PathLike, dataset: str, split: str, ids: np.ndarray,
                 seed: int = 0, progress: Progress | None = None, fallback_dir: str | os.PathLike | None = None,
                 n_jobs: int | None = None, poll_s: float = 0.2) -> np.ndarray:
    """The t-SNE map (N, 2) float32 of ``means`` (N, D), the posterior means of the images
    ``ids`` (N,) of ``dataset``/``split`` under the model in ``model_dir``: from this process's
    memory, else the cache file, else computed (:func:`embed`) and written beside the model (or
    into ``fallback_dir``, default :func:`default_fallback_dir`, when that folder is read-only).

    Callers asking for the same map at once share one computation, run in a background thread
    (so a caller that gives up, e.g. a closed browser tab, does not stop it); each waits, calling
    its own ``progress`` (fractions in [0, 1], 1.0 at the end) from its own thread every
    ``poll_s`` seconds. Raises ValueError for unusable means, as :func:`embed` does.
    """
    report = progress or (lambda _f: None)
    model_dir = Path(model_dir)
    ids64 = np.ascontiguousarray(ids, dtype=np.int64)
    if np.shape(means)[:1] != ids64.shape:
        raise ValueError(f"{np.shape(means)[0]} latent means for {ids64.shape[0]} image ids")
    key = cache_key(model_dir, dataset, split, ids64, seed)
    fallback = Path(fallback_dir or default_fallback_dir())
    hit = lookup(key, model_dir, ids64, fallback)
    if hit is not None:
        report(1.0)
        return hit
    with _jobs_lock:
        job = _jobs.get(key)
        if job is None:
            job = _jobs[key] = _Job()
            args = (job, key, np.array(means, dtype=np.float32), model_dir, ids64, fallback, int(seed), n_jobs)
            threading.Thread(target=_run, args=args, name=f"vae-tsne-{key}", daemon=True).start()
    while not job.done.wait(poll_s):
        report(job.fraction)
    if job.error is not None:
        raise job.error
    report(1.0)
    return job.result


def precompute(model_dir: str | os.PathLike, dataset: str, data: ImageData,
               n_jobs: int = 1) -> tuple[Path | None, float]:
    """Compute (or find) the map of ``data``'s images (the test split of ``dataset``, the name in
    the model's card) under the model in ``model_dir``, as the app would; returns the cache file
    written or found and the seconds it took."""
    from .checkpoint import load
    from .explore import encode_dataset

    t0 = time.perf_counter()
    enc = encode_dataset(load(model_dir).model, data)
    ids = enc.ids.numpy()
    cached_embed(enc.mean.numpy(), model_dir, dataset, "test", ids, n_jobs=n_jobs)
    key = cache_key(model_dir, dataset, "test", ids)
    found = [p for p in cache_files(model_dir, key) if p.is_file()]
    return (found[0] if found else None), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """``python -m vae.tsne MODEL_DIR... [--data-dir D] [--sample]``: precompute the Latent map's
    t-SNE of each model's test set (full when found, and with ``--sample`` the shipped 2,000-image
    sample too), so that nobody waits for it in the app."""
    import argparse

    from .checkpoint import read_card
    from .data.samples import has_sample, load_sample
    from .registry import load_dataset

    parser = argparse.ArgumentParser(prog="python -m vae.tsne", description=main.__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--sample", action="store_true", help="also the shipped sample of MNIST-like test sets")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    for model_dir in args.models:
        dataset = read_card(model_dir)["dataset"]
        sets = [load_dataset(dataset, "test", data_dir=args.data_dir)]
        if args.sample and has_sample(dataset) and len(sets[0]) != len(load_sample(dataset)):
            sets.append(load_sample(dataset))
        for data in sets:
            path, seconds = precompute(model_dir, dataset, data, args.jobs)
            print(f"{model_dir}: {len(data):,} images ({data.source}): {path} in {seconds:.1f} s", flush=True)
    return 0


__all__ = ["PERPLEXITY", "SETTINGS", "cache_files", "cache_key", "cached_embed", "default_fallback_dir", "embed",
           "lookup", "main", "precompute", "read_map", "weights_digest", "write_map"]


if __name__ == "__main__":
    raise SystemExit(main())
