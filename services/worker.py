"""One background training job, run as a subprocess: ``python -m services.worker JOB_DIR``.

Reads the job's :class:`vae.runspec.RunSpec` from ``JOB_DIR/spec.json``, trains it, and appends
progress events (services/events.py) to ``JOB_DIR/events.jsonl``: ``start``, ``step`` (throttled),
``epoch`` (with a PNG of reconstructions and prior samples), then one of ``done`` / ``stopped`` /
``failed``. Every epoch saves ``JOB_DIR/checkpoint`` (resumable); the finished model goes to the
spec's ``out``. The file ``JOB_DIR/stop`` asks it to stop at the next step; it then saves
``JOB_DIR/checkpoint`` so the job can be resumed. It never imports Streamlit: the app's job
registry (services/jobs.py) only reads the events.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from pathlib import Path

import torch

from services.events import Done, Epoch, EventLog, Failed, Started, Step, Stopped
from services.jobs import CHECKPOINT
from vae import checkpoint
from vae.data.base import DatasetUnavailable, ImageData
from vae.device import pick_device, set_threads
from vae.metrics import evaluate
from vae.progress import EpochReport, StepReport
from vae.runspec import PreparedRun, RunSpec, prepare_run
from vae.trainer import Trainer, TrainingDiverged

NICE = 10  # background training yields the CPU to the app's own requests (POSIX niceness)
EVAL_LIMIT = 2000  # per-epoch test evaluation uses at most this many images (the final one uses all)
PREVIEW = 8
OUT_OF_MEMORY = "out of memory: try a smaller batch size, a smaller model or fewer images"


def _lower_priority(increment: int) -> None:
    """Run below the app server's priority, so pages stay responsive while a job trains."""
    if increment and hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # not permitted here: train at normal priority
            os.nice(increment)


def _preview_png(model, fixed: torch.Tensor, out: Path, seed: int) -> None:
    """Top row: test images; middle: their reconstructions; bottom: prior samples."""
    from PIL import Image

    n, device = len(fixed), next(model.parameters()).device
    with torch.inference_mode():
        model.eval()
        recon = model.reconstruct(fixed.to(device)).cpu()
        z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
        samples = model.decode_image(z.to(device)).cpu()
        model.train()
    rows = torch.cat([fixed, recon, samples])  # (3*n, C, H, W)
    c, h, w = rows.shape[1:]
    grid = rows.view(3, n, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, 3 * h, n * w)
    arr = (grid.clamp(0, 1) * 255).round().to(torch.uint8)
    img = Image.fromarray(arr[0].numpy() if c == 1 else arr.permute(1, 2, 0).numpy())
    img.resize((img.width * 3, img.height * 3), Image.Resampling.NEAREST).save(out)


def _watch_stop_file(path: Path, stop: threading.Event) -> None:
    """Set ``stop`` once ``path`` exists (the registry's stop request)."""
    def watch() -> None:
        while not stop.is_set():
            if path.exists():
                stop.set()
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()


class _Reporter:
    """The trainer's callbacks: throttled step events (about 100 per epoch); after each epoch a
    preview image, the resumable checkpoint and an epoch event."""

    def __init__(self, job_dir: Path, prep: PreparedRun, events: EventLog) -> None:
        self.job_dir, self.prep, self.spec, self.events = job_dir, prep, prep.spec, events
        preview_from: ImageData = prep.test if prep.test is not None else prep.train
        self.fixed = preview_from.float_images(slice(0, PREVIEW))
        self.every = max(1, -(-len(prep.train) // prep.spec.train.batch_size) // 100)
        self.trainer: Trainer | None = None

    def step(self, r: StepReport) -> None:
        if r.epoch_step % self.every == 0 or r.epoch_step == r.steps_per_epoch:
            self.events.write(Step.from_report(r))

    def epoch(self, r: EpochReport) -> None:
        image = f"epoch-{r.epoch}.png"
        _preview_png(self.trainer.model, self.fixed, self.job_dir / image, seed=self.spec.train.seed)
        self.save_checkpoint(self.trainer.snapshot())
        self.events.write(Epoch.from_report(r, image))

    def save_checkpoint(self, state) -> None:
        checkpoint.save(self.job_dir / CHECKPOINT, self.trainer.model, self.spec.data.name, state=state,
                        training=self.prep.summary(self.trainer))


def _train(job_dir: Path, spec: RunSpec, events: EventLog, stop: threading.Event) -> None:
    """Prepare, train and save the job; writes every event but ``failed``."""
    device = pick_device(spec.device)
    prep = prepare_run(spec)
    test = prep.test
    quick_test = test.subset(torch.arange(min(EVAL_LIMIT, len(test)))) if test is not None else None
    reporter = _Reporter(job_dir, prep, events)
    trainer = reporter.trainer = Trainer(prep.model, prep.train, spec.train, test=quick_test, device=device,
                                         on_step=reporter.step, on_epoch=reporter.epoch, stop_event=stop,
                                         state=prep.state)
    events.write(Started(epochs=spec.train.epochs, steps_per_epoch=trainer.steps_per_epoch, data=prep.train.source,
                         resumed_from_epoch=trainer.state.epoch, resumed_step=trainer.state.global_step))
    result = trainer.fit()
    if result.stopped:
        reporter.save_checkpoint(result.state)
        st = result.state
        events.write(Stopped(epoch=st.epoch, epoch_step=st.epoch_step, step=st.global_step))
        return
    metrics = evaluate(trainer.model, test, iwae_k=spec.final_iwae_k) if test is not None else None
    out = prep.out  # the spec's out: the registry sets it to the models folder
    checkpoint.save(out, trainer.model, spec.data.name, training=prep.summary(trainer), metrics=metrics,
                    extra={"description": f"trained in the app as job {job_dir.name}"})
    shown = {k: metrics[k] for k in ("neg_elbo", "recon", "kl", "active_units")} if metrics else None
    events.write(Done(model_path=str(out), metrics=shown))


def run(job_dir: Path) -> int:
    """Run the job in ``job_dir``; 0 when it finished or stopped, 1 when it failed (the ``failed``
    event says why)."""
    events = EventLog(job_dir / "events.jsonl")
    stop = threading.Event()
    try:
        spec = RunSpec.from_json((job_dir / "spec.json").read_text(encoding="utf-8"))
        set_threads(spec.threads)
        _lower_priority(NICE)
        _watch_stop_file(job_dir / "stop", stop)
        _train(job_dir, spec, events, stop)
        return 0
    except (TrainingDiverged, DatasetUnavailable, ValueError) as exc:  # incl. ConfigError, CheckpointError
        events.write(Failed(error=str(exc)))
    except (torch.OutOfMemoryError, MemoryError):
        events.write(Failed(error=OUT_OF_MEMORY))
    except Exception as exc:  # the job fails; the registry and the app keep running
        events.write(Failed(error=f"{type(exc).__name__}: {exc}", detail=traceback.format_exc()[-2000:]))
    finally:
        stop.set()
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m services.worker JOB_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(run(Path(sys.argv[1])))
