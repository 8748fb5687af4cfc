"""vae/tsne.py: the t-SNE map (shape, determinism, progress) and its disk cache (reused, not
trusted when damaged, a read-only model folder, one computation for many callers)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vae import ModelConfig, build_model, save, tsne

N, D = 300, 6


def _means(n: int = N, seed: int = 0) -> np.ndarray:
    """(n, D) float32: three well separated clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, D))
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, D))).astype(np.float32)


@pytest.fixture
def model_dir(tmp_path) -> Path:
    return save(tmp_path / "models" / "tiny", build_model(ModelConfig(latent_dim=D, hidden=(16,))), "mnist")


@pytest.fixture
def fallback(tmp_path) -> Path:
    return tmp_path / "user-cache" / "tsne"


@pytest.fixture(autouse=True)
def _fresh_process_memory():
    """Each test starts as a new server process would: nothing remembered in memory."""
    tsne._memo.clear()
    yield
    tsne._memo.clear()


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """Counts the t-SNE computations (the real :func:`tsne.embed` still runs, with fewer
    iterations: these tests are about the cache)."""
    real, counted = tsne.embed, []
    monkeypatch.setattr(tsne, "EARLY_ITER", 50)
    monkeypatch.setattr(tsne, "MAIN_ITER", 50)

    def counting(means, seed=0, progress=None, n_jobs=None):
        counted.append(len(means))
        return real(means, seed, progress, n_jobs)

    monkeypatch.setattr(tsne, "embed", counting)
    return counted


def _ids(n: int = N) -> np.ndarray:
    return np.arange(1000, 1000 + n, dtype=np.int64)


def test_embedding_shape_determinism_and_progress():
    x = _means()
    seen: list[float] = []
    a = tsne.embed(x, seed=0, progress=seen.append, n_jobs=1)
    assert a.shape == (N, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, tsne.embed(x, seed=0))  # same seed: same map
    assert not np.allclose(a, tsne.embed(x, seed=1, n_jobs=1))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) > 10
    assert all(0.0 <= f <= 1.0 for f in seen) and seen == sorted(seen)
    # The clusters of the input stay apart: each point's nearest neighbour is in its own cluster.
    dist = np.linalg.norm(a[:, None] - a[None], axis=-1) + np.eye(N) * 1e9
    assert (dist.argmin(axis=1) % 3 == np.arange(N) % 3).mean() > 0.95


def test_two_or_three_points_lie_on_a_line():
    x = np.array([[0, 0, 0], [1, 1, 0], [3, 3, 0]], np.float32)
    out = tsne.embed(x)
    assert out.shape == (3, 2) and out.dtype == np.float32 and not out[:, 1].any()
    assert np.allclose(np.abs(np.diff(out[:, 0])), [np.sqrt(2), 2 * np.sqrt(2)], atol=1e-5)


@pytest.mark.parametrize("bad, message", [(np.zeros(5), "shape"), (np.zeros((1, 3)), "N >= 2"),
                                          (np.full((10, 3), np.nan), "finite")])
def test_unusable_means_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        tsne.embed(bad)


def test_second_open_loads_the_cache_and_does_not_recompute(model_dir, fallback, calls):
    x, ids = _means(), _ids()
    first = tsne.cached_embed(x, model_dir, "mnist", "test", ids, fallback_dir=fallback, n_jobs=1)
    assert calls == [N]
    files = sorted(model_dir.glob("tsne-*.npz"))
    assert len(files) == 1 and not list(model_dir.glob(".*"))  # beside the model; no temp or lock file left
    again = tsne.cached_embed(x, model_dir, "mnist", "test", ids, fallback_dir=fallback)  # from memory
    tsne._memo.clear()  # as a new server process
    seen: list[float] = []
    loaded = tsne.cached_embed(x, model_dir, "mnist", "test", ids, fallback_dir=fallback, progress=seen.append)
    assert calls == [N], "the map was computed again"
    assert np.array_equal(first, again) and np.array_equal(first, loaded) and seen == [1.0]
    assert not fallback.exists()


def test_key_covers_weights_content_dataset_points_and_seed(model_dir, tmp_path):
    ids = _ids()
    key = tsne.cache_key(model_dir, "mnist", "test", ids)
    assert key == tsne.cache_key(model_dir, "mnist", "test", ids.copy())
    os.utime(model_dir / "model.safetensors", (1, 1))  # a fresh checkout: other mtime, same content
    assert tsne.cache_key(model_dir, "mnist", "test", ids) == key
    others = {tsne.cache_key(model_dir, "mnist", "test", ids[:200]),  # the 2,000-image sample vs full
              tsne.cache_key(model_dir, "mnist", "test", ids[::-1]),
              tsne.cache_key(model_dir, "fashion-mnist", "test", ids),
              tsne.cache_key(model_dir, "mnist", "train", ids),
              tsne.cache_key(model_dir, "mnist", "test", ids, seed=1),
              tsne.cache_key(save(tmp_path / "other", build_model(ModelConfig(latent_dim=D, hidden=(17,))), "mnist"),
                             "mnist", "test", ids)}
    assert key not in others and len(others) == 6


def _damage(path: Path, how: str) -> None:
    ids = _ids()
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "garbage":
        path.write_bytes(b"not a zip file at all" * 100)
    elif how == "flipped bytes":
        data = bytearray(path.read_bytes())
        data[200:260] = bytes(60)  # inside the embedding's data: its CRC no longer matches
        path.write_bytes(bytes(data))
    elif how == "wrong shape":
        np.savez(path, embedding=np.zeros((N, 3), np.float32), ids=ids)
    elif how == "wrong dtype":
        np.savez(path, embedding=np.zeros((N, 2), np.float64), ids=ids)
    elif how == "other ids":
        np.savez(path, embedding=np.zeros((N, 2), np.float32), ids=ids + 1)
    elif how == "not finite":
        np.savez(path, embedding=np.full((N, 2), np.inf, np.float32), ids=ids)
    elif how == "pickle":
        np.savez(path, embedding=np.array([object()] * N, dtype=object), ids=ids)
    elif how == "extra member":
        np.savez(path, embedding=np.zeros((N, 2), np.float32), ids=ids, more=np.zeros(3))


@pytest.mark.parametrize("how", ["truncated", "garbage", "flipped bytes", "wrong shape", "wrong dtype", "other ids",
                                 "not finite", "pickle", "extra member"])
def test_a_damaged_cache_file_is_recomputed(model_dir, fallback, calls, how):
    x, ids = _means(), _ids()
    first = tsne.cached_embed(x, model_dir, "mnist", "test", ids, fallback_dir=fallback, n_jobs=1)
    (path,) = model_dir.glob("tsne-*.npz")
    _damage(path, how)
    assert tsne.read_map(path, ids) is None
    tsne._memo.clear()
    again = tsne.cached_embed(x, model_dir, "mnist", "test", ids, fallback_dir=fallback, n_jobs=1)
    assert calls == [N, N] and np.array_equal(first, again)
    assert np.array_equal(tsne.read_map(path, ids), first)  # and the file is whole again


def test_read_only_model_folder_uses_the_fallback_folder(model_dir, fallback, calls, monkeypatch):
    real_write, real_open = tsne.write_map, os.open

    def refuse_in_model_dir(path, *args, **kwargs):  # what a read-only folder does (root ignores chmod)
        if Path(path).parent == model_dir:
            raise PermissionError(13, "Read-only file system", str(path))
        return real_write(path, *args, **kwargs)

    def open_refusing(path, flags, *args, **kwargs):
        if Path(path).parent == model_dir and flags & os.O_CREAT:
            raise PermissionError(13, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(tsne, "write_map", refuse_in_model_dir)
    monkeypatch.setattr(tsne.os, "open", open_refusing)
    model_dir.chmod(0o555)
    try:
        x, ids = _means(), _ids()
        first = tsne.cached_embed(x, model_dir, "mnist", "test", ids, fallback_dir=fallback, n_jobs=1)
        assert sorted(p.name for p in model_dir.iterdir()) == ["config.json", "model.safetensors"]
        assert len(list(fallback.glob("tsne-*.npz"))) == 1
        tsne._memo.clear()
        assert np.array_equal(tsne.cached_embed(x, model_dir, "mnist", "test", ids, fallback_dir=fallback), first)
        assert calls == [N]
    finally:
        model_dir.chmod(0o755)


def test_many_callers_at_once_share_one_computation(model_dir, fallback, monkeypatch):
    """30 students open the map at once: one computation; each caller sees progress up to 1.0
    from its own thread."""
    started = threading.Event()
    count: list[int] = []

    def slow(means, seed=0, progress=None, n_jobs=None):
        count.append(1)
        started.set()
        for k in range(1, 6):
            time.sleep(0.05)
            progress(k / 5)
        return np.zeros((len(means), 2), np.float32) + seed

    monkeypatch.setattr(tsne, "embed", slow)
    x, ids = _means(), _ids()
    results: dict[int, np.ndarray] = {}
    progress: dict[int, list[tuple[float, int]]] = {i: [] for i in range(30)}

    def student(i: int) -> None:
        def report(f: float) -> None:
            progress[i].append((f, threading.get_ident()))

        results[i] = tsne.cached_embed(x, model_dir, "mnist", "test", ids, fallback_dir=fallback, progress=report,
                                       poll_s=0.01)
        progress[i].append((-1.0, threading.get_ident()))

    threads = [threading.Thread(target=student, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert count == [1] and len(results) == 30
    assert all(np.array_equal(r, results[0]) for r in results.values())
    for seen in progress.values():
        assert seen[-2][0] == 1.0 and len({tid for _, tid in seen}) == 1  # reported in the caller's own thread
    assert len(list(model_dir.glob("tsne-*.npz"))) == 1


def test_a_failed_computation_reaches_every_caller_and_is_retried(model_dir, fallback, monkeypatch):
    def broken(means, seed=0, progress=None, n_jobs=None):
        raise ValueError("t-SNE needs finite latent means")

    monkeypatch.setattr(tsne, "embed", broken)
    with pytest.raises(ValueError, match="finite"):
        tsne.cached_embed(_means(), model_dir, "mnist", "test", _ids(), fallback_dir=fallback)
    monkeypatch.setattr(tsne, "embed", lambda means, seed=0, progress=None, n_jobs=None: np.ones((len(means), 2),
                                                                                                 np.float32))
    assert tsne.cached_embed(_means(), model_dir, "mnist", "test", _ids(), fallback_dir=fallback).sum() == 2 * N


def test_importing_vae_does_not_import_the_tsne_package():
    import subprocess
    import sys

    code = "import sys, vae, vae.tsne; print('openTSNE' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["False", "False"]


def test_another_process_computing_the_map_is_waited_for_not_repeated(model_dir, fallback, calls):
    """Replicas share the model folder: while another process holds the map's lock file, this
    one waits, then reads the map that process stored instead of computing it again."""
    import fcntl

    x, ids = _means(), _ids()
    key = tsne.cache_key(model_dir, "mnist", "test", ids)
    fd = os.open(model_dir / f".tsne-{key}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # "the other replica" (flock conflicts across open files, even in one process)
    out: list[np.ndarray] = []
    waiter = threading.Thread(target=lambda: out.append(
        tsne.cached_embed(x, model_dir, "mnist", "test", ids, fallback_dir=fallback, poll_s=0.01)))
    waiter.start()
    waiter.join(timeout=1.0)
    assert waiter.is_alive() and calls == []  # waiting on the other process
    theirs = np.arange(2 * N, dtype=np.float32).reshape(N, 2)
    tsne.write_map(model_dir / f"tsne-{key}.npz", theirs, ids)
    os.close(fd)  # the other process is done
    waiter.join(timeout=60)
    assert calls == [] and np.array_equal(out[0], theirs)
