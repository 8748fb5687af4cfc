"""Data-parallel training (vae/distributed.py): 2 gloo processes on the CPU reproduce one process
at the same global batch size, and `python -m vae.train` runs under torchrun.

Run as a script (``python test_ddp.py OUT`` with torchrun's RANK/WORLD_SIZE/MASTER_* set), this
file is one rank of the function-level test."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import torch

from vae import checkpoint, distributed
from vae.config import ModelConfig, TrainConfig
from vae.data.shapes import make_shapes
from vae.models import build_model
from vae.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]
# 37 images in global batches of 12: 12, 12, 12, 1. The 1-image batch leaves rank 0 an empty share.
CFG = TrainConfig(epochs=2, batch_size=12, lr=3e-3, kl_warmup_epochs=1, grad_clip=8000.0, seed=5)
MODEL = ModelConfig(latent_dim=3, hidden=(32,), likelihood="gaussian", learn_sigma=True)  # log_sigma: a parameter


def _data():
    return make_shapes(37, seed=11)


def _trainer(**kw) -> Trainer:
    model = build_model(MODEL, generator=torch.Generator().manual_seed(CFG.seed))
    return Trainer(model, _data(), CFG, **kw)


def _child_env(rank: int, port: int) -> dict[str, str]:
    """torchrun's variables for one of 2 ranks; this checkout's ``vae`` first on the path."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "PYTHONPATH": path,
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_give_the_parameters_of_one_process(tmp_path):
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, __file__, str(tmp_path / f"rank{r}.pt")], cwd=ROOT,
                              env=_child_env(r, port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(2)]
    try:  # a rank waiting forever on a collective the other never joins is a failure too
        logs = [p.communicate(timeout=90)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert [p.returncode for p in procs] == [0, 0], logs
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]

    single = _trainer(test=_data())
    result = single.fit()
    assert result.state.global_step == 8
    for name, want in single.model.state_dict().items():
        for got in ranks:
            diff = (got["params"][name] - want).abs().max().item()
            assert diff < 1e-5, (name, diff)
    # Adam's moments hold the gradients' scale, to which the parameters above are nearly blind
    for i, want in single.optimizer.state_dict()["state"].items():
        for got in ranks:
            for key in ("exp_avg", "exp_avg_sq"):
                diff = (got["adam"][i][key] - want[key]).abs().max() / want[key].abs().max()
                assert diff < 1e-4, (i, key, diff.item())
    for got in ranks:  # all-reduced training means: the single process's history
        assert got["global_step"] == 8
        for mine, theirs in zip(got["train"], [h["train"] for h in result.state.history]):
            assert all(abs(mine[k] - theirs[k]) <= 1e-5 * max(1.0, abs(theirs[k])) for k in theirs), (mine, theirs)
    assert ranks[0]["tested"] == [True, True] and ranks[1]["tested"] == [False, False]  # rank 0 evaluates
    assert ranks[0]["stopped_at"] == ranks[1]["stopped_at"] == 3  # rank 1's stop event stops both ranks


def test_torchrun_two_processes_write_one_loadable_model(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "vae.train", "--dataset", "shapes", "--arch", "mlp", "--hidden", "32", "--latent-dim",
                        "2", "--epochs", "1", "--batch-size", "64", "--limit", "300", "--threads", "1", "--out",
                        str(out)], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("epoch 1/1 | train -ELBO") == 1 and r.stdout.count("done: 1 epochs") == 1  # rank 0 only
    assert "2 processes (DDP, gloo)" in r.stdout
    assert r.stderr.count("| 0/5 [") == 1  # one progress bar
    card = checkpoint.read_card(out)
    assert card["training"]["global_step"] == 5 and card["training"]["processes"] == 2  # 300 images / 64
    assert card["metrics"]["n"] == 2000
    assert checkpoint.load(out).model.config.latent_dim == 2


def _rank_main(out: str) -> None:
    """One rank of the function-level test: train, then check that one rank's stop stops both."""
    torch.set_num_threads(1)
    distributed.init("cpu")
    try:
        world = distributed.current()
        epochs = []
        trainer = _trainer(test=_data(), on_epoch=epochs.append)
        state = trainer.fit().state
        stop = threading.Event()

        def on_step(r) -> None:
            if world.rank == 1 and r.step == 2:
                stop.set()

        stopped = _trainer(on_step=on_step, stop_event=stop).fit()
        assert stopped.stopped
        torch.save({"params": trainer.model.state_dict(), "adam": trainer.optimizer.state_dict()["state"],
                    "global_step": state.global_step,
                    "train": [e.train for e in epochs], "tested": [e.test is not None for e in epochs],
                    "stopped_at": stopped.state.global_step}, out)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    _rank_main(sys.argv[1])
