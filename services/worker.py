"""One background training job, run as a subprocess: ``python -m services.worker JOB_DIR``.

Reads ``JOB_DIR/spec.json``, trains, and appends JSON lines to ``JOB_DIR/events.jsonl``:
``start``, ``step`` (throttled), ``epoch`` (with a PNG of reconstructions and prior samples),
then one of ``done`` / ``stopped`` / ``failed``. The file ``JOB_DIR/stop`` asks it to stop at
the next step; it then saves ``JOB_DIR/checkpoint`` so the job can be resumed. It never
imports Streamlit: the app's job registry (services/jobs.py) only reads the events.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

import torch

from vae import checkpoint
from vae.config import ModelConfig, TrainConfig
from vae.data.base import DatasetUnavailable
from vae.device import set_threads
from vae.metrics import evaluate
from vae.models import build_model
from vae.registry import DATASETS, load_dataset
from vae.progress import EpochReport, StepReport
from vae.trainer import Trainer, TrainingDiverged

NICE = 10  # background training yields the CPU to the app's own requests (POSIX niceness)
EVAL_LIMIT = 2000  # per-epoch test evaluation uses at most this many images (the final one uses all)
PREVIEW = 8


class Events:
    """Append-only JSON-lines writer, flushed per line so the registry sees progress at once."""

    def __init__(self, path: Path) -> None:
        self.fh = open(path, "a", encoding="utf-8")

    def emit(self, kind: str, **data) -> None:
        self.fh.write(json.dumps({"type": kind, "time": time.time(), **data}) + "\n")
        self.fh.flush()


def _lower_priority(increment: int) -> None:
    """Run below the app server's priority, so pages stay responsive while a job trains."""
    if increment and hasattr(os, "nice"):
        try:
            os.nice(increment)
        except OSError:
            pass  # not permitted here: train at normal priority


def _preview_png(model, fixed: torch.Tensor, out: Path, seed: int) -> None:
    """Top row: test images; middle: their reconstructions; bottom: prior samples."""
    from PIL import Image

    with torch.inference_mode():
        model.eval()
        recon = model.reconstruct(fixed)
        z = torch.randn(PREVIEW, model.latent_dim, generator=torch.Generator().manual_seed(seed))
        samples = model.decode_image(z)
        model.train()
    rows = torch.cat([fixed, recon, samples])  # (3*PREVIEW, C, H, W)
    c, h, w = rows.shape[1:]
    grid = rows.view(3, PREVIEW, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, 3 * h, PREVIEW * w)
    arr = (grid.clamp(0, 1) * 255).round().to(torch.uint8)
    img = Image.fromarray(arr[0].numpy() if c == 1 else arr.permute(1, 2, 0).numpy())
    img.resize((img.width * 3, img.height * 3), Image.Resampling.NEAREST).save(out)


def _setup(job_dir: Path, spec: dict):
    """Model, train config, data and resumable state for the job (configs are checked before
    any data is loaded, so a bad request fails at once)."""
    tcfg = TrainConfig.from_dict(spec["train"])
    ck = job_dir / "checkpoint"
    mcfg = None
    if not ck.is_dir():
        name = spec["dataset"]
        c, h, w = DATASETS[name].image_shape if name in DATASETS else (spec.get("channels", 1), spec.get("size", 28),
                                                                        spec.get("size", 28))
        mcfg = ModelConfig.from_dict({**spec["model"], "channels": c, "height": h, "width": w})
    data_kw = {"data_dir": spec.get("data_dir"), "channels": spec.get("channels", 1), "size": spec.get("size", 28)}
    train = load_dataset(spec["dataset"], "train", allow_sample=bool(spec.get("allow_sample")), **data_kw)
    if spec.get("limit"):  # train on the first N images only (quick demos, tests)
        train = train.subset(torch.arange(min(int(spec["limit"]), len(train))))
    test = load_dataset(spec["dataset"], "test", **data_kw)
    if mcfg is None:
        model, state = checkpoint.load(ck).model, checkpoint.load_train_state(ck)
    else:
        model, state = build_model(mcfg, generator=torch.Generator().manual_seed(tcfg.seed)), None
    return model, tcfg, train, test, state


def run(job_dir: Path) -> int:
    spec = json.loads((job_dir / "spec.json").read_text())
    events = Events(job_dir / "events.jsonl")
    set_threads(int(spec.get("threads", 1)))
    _lower_priority(int(spec.get("nice", NICE)))
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if (job_dir / "stop").exists():
                stop.set()
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()
    try:
        model, tcfg, train, test, state = _setup(job_dir, spec)
        quick_test = test.subset(torch.arange(min(EVAL_LIMIT, len(test))))
        fixed = test.float_images(slice(0, PREVIEW))
        trainer: Trainer
        every = max(1, -(-len(train) // tcfg.batch_size) // 100)

        def on_step(r: StepReport) -> None:
            if r.epoch_step % every == 0 or r.epoch_step == r.steps_per_epoch:
                events.emit("step", **r.__dict__)

        def on_epoch(r: EpochReport) -> None:
            image = f"epoch-{r.epoch}.png"
            _preview_png(trainer.model, fixed, job_dir / image, seed=tcfg.seed)
            checkpoint.save(job_dir / "checkpoint", trainer.model, spec["dataset"], state=trainer.snapshot(),
                            training=trainer.summary(train.source, spec.get("data_dir")))
            events.emit("epoch", **r.to_dict(), epochs=r.epochs, image=image, eta_s=r.eta_s)

        trainer = Trainer(model, train, tcfg, test=quick_test, on_step=on_step, on_epoch=on_epoch,
                          stop_event=stop, state=state)
        events.emit("start", epochs=tcfg.epochs, steps_per_epoch=trainer.steps_per_epoch, data=train.source,
                    resumed_from_epoch=trainer.state.epoch, resumed_step=trainer.state.global_step)
        result = trainer.fit()
        if result.stopped:
            checkpoint.save(job_dir / "checkpoint", trainer.model, spec["dataset"], state=result.state,
                            training=trainer.summary(train.source, spec.get("data_dir")))
            events.emit("stopped", epoch=result.state.epoch, epoch_step=result.state.epoch_step,
                        step=result.state.global_step)
            return 0
        metrics = evaluate(trainer.model, test)
        summary = trainer.summary(train.source, spec.get("data_dir"))
        out = Path(spec["out"])
        checkpoint.save(out, trainer.model, spec["dataset"], training=summary, metrics=metrics,
                        extra={"description": spec.get("description", f"trained in the app as job {job_dir.name}")})
        events.emit("done", model_path=str(out), metrics={k: metrics[k] for k in ("neg_elbo", "recon", "kl", "active_units")})
        return 0
    except (TrainingDiverged, DatasetUnavailable, ValueError) as exc:
        events.emit("failed", error=str(exc))
    except (torch.OutOfMemoryError, MemoryError):
        events.emit("failed", error="out of memory: try a smaller batch size, a smaller model or fewer images")
    except Exception as exc:  # the job fails; the registry and the app keep running
        events.emit("failed", error=f"{type(exc).__name__}: {exc}", detail=traceback.format_exc()[-2000:])
    finally:
        stop.set()
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m services.worker JOB_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(run(Path(sys.argv[1])))
