"""One background training job, run as a subprocess: ``python -m services.worker JOB_DIR``.

Reads the job's :class:`vae.runspec.RunSpec` from ``JOB_DIR/spec.json``, trains it, and appends
progress events (services/events.py) to ``JOB_DIR/events.jsonl``: ``start``, ``step`` (throttled),
``epoch`` (with a PNG of reconstructions and prior samples), then one of ``done`` / ``stopped`` /
``failed``. Every epoch saves ``JOB_DIR/checkpoint`` (resumable); the finished model goes to the
spec's ``out``. The file ``JOB_DIR/stop`` asks it to stop at the next step, and so do SIGTERM
(the server shutting down) and ``--time-limit SECONDS`` (wall-clock time of this run); it then saves
``JOB_DIR/checkpoint`` so the job can be resumed, and its ``stopped`` event says why (no reason:
the user asked). It never imports Streamlit: the app's job registry (services/jobs.py) only reads
the events.
"""
from __future__ import annotations

import contextlib
import os
import signal
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


def _preview_png(model, fixed: torch.Tensor, out: Path, seed: int, labels: torch.Tensor | None = None) -> None:
    """Top row: test images (N, C, H, W); middle: their reconstructions; bottom: prior samples.
    A conditional model is given ``labels`` (N,): the images' classes, also drawn as samples."""
    from PIL import Image

    n, device = len(fixed), next(model.parameters()).device
    y = labels.to(device) if labels is not None and getattr(model, "num_classes", 0) else None
    with torch.inference_mode():
        model.eval()
        recon = model.reconstruct(fixed.to(device), y).cpu()
        z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
        samples = model.decode_image(z.to(device), y).cpu()
        model.train()
    rows = torch.cat([fixed, recon, samples])  # (3*n, C, H, W)
    c, h, w = rows.shape[1:]
    grid = rows.view(3, n, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, 3 * h, n * w)
    arr = (grid.clamp(0, 1) * 255).round().to(torch.uint8)
    img = Image.fromarray(arr[0].numpy() if c == 1 else arr.permute(1, 2, 0).numpy())
    img.resize((img.width * 3, img.height * 3), Image.Resampling.NEAREST).save(out)


SHUT_DOWN = "the server shut down"


class StopRequest(threading.Event):
    """The trainer's stop event, with why it was set: ``reason`` None when the user asked."""

    reason: str | None = None

    def request(self, reason: str | None = None) -> None:
        if not self.is_set():
            self.reason = reason
            self.set()


def time_limit_text(seconds: float) -> str:
    """The stop reason: "time limit of 30 min reached" ("of 90 s" for a limit not in whole minutes)."""
    amount = f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds:g} s"
    return f"time limit of {amount} reached"


def _watch(stop_file: Path, stop: StopRequest, time_limit_s: float) -> None:
    """Request a stop once ``stop_file`` exists (the registry's stop) or ``time_limit_s`` (0: none)
    has passed since now."""
    deadline = time.monotonic() + time_limit_s if time_limit_s else None

    def watch() -> None:
        while not stop.is_set():
            if stop_file.exists():
                stop.request()
            elif deadline is not None and time.monotonic() >= deadline:
                stop.request(time_limit_text(time_limit_s))
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()


@contextlib.contextmanager
def _stop_on_sigterm(stop: StopRequest):
    """While inside, SIGTERM requests a stop (the job saves and can be resumed) instead of killing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.request(SHUT_DOWN))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Reporter:
    """The trainer's callbacks: throttled step events (about 100 per epoch); after each epoch a
    preview image, the resumable checkpoint and an epoch event."""

    def __init__(self, job_dir: Path, prep: PreparedRun, events: EventLog) -> None:
        self.job_dir, self.prep, self.spec, self.events = job_dir, prep, prep.spec, events
        preview_from: ImageData = prep.test if prep.test is not None else prep.train
        self.fixed = preview_from.float_images(slice(0, PREVIEW))
        self.fixed_labels = preview_from.labels[:PREVIEW]
        self.every = max(1, -(-len(prep.train) // prep.spec.train.batch_size) // 100)
        self.trainer: Trainer | None = None

    def step(self, r: StepReport) -> None:
        if r.epoch_step % self.every == 0 or r.epoch_step == r.steps_per_epoch:
            self.events.write(Step.from_report(r))

    def epoch(self, r: EpochReport) -> None:
        image = f"epoch-{r.epoch}.png"
        _preview_png(self.trainer.model, self.fixed, self.job_dir / image, seed=self.spec.train.seed,
                     labels=self.fixed_labels)
        self.save_checkpoint(self.trainer.snapshot())
        self.events.write(Epoch.from_report(r, image))

    def save_checkpoint(self, state) -> None:
        checkpoint.save(self.job_dir / CHECKPOINT, self.trainer.model, self.spec.data.name, state=state,
                        training=self.prep.summary(self.trainer))


def _train(job_dir: Path, spec: RunSpec, events: EventLog, stop: StopRequest) -> None:
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
        events.write(Stopped(epoch=st.epoch, epoch_step=st.epoch_step, step=st.global_step, reason=stop.reason))
        return
    metrics = evaluate(trainer.model, test, iwae_k=spec.final_iwae_k) if test is not None else None
    out = prep.out  # the spec's out: the registry sets it to the models folder
    checkpoint.save(out, trainer.model, spec.data.name, training=prep.summary(trainer), metrics=metrics,
                    extra={"description": f"trained in the app as job {job_dir.name}"})
    shown = {k: metrics[k] for k in ("neg_elbo", "recon", "kl", "active_units")} if metrics else None
    events.write(Done(model_path=str(out), metrics=shown))


def run(job_dir: Path, time_limit_s: float = 0) -> int:
    """Run the job in ``job_dir`` for at most ``time_limit_s`` seconds (0: no limit); 0 when it
    finished or stopped, 1 when it failed (the ``failed`` event says why)."""
    events = EventLog(job_dir / "events.jsonl")
    stop = StopRequest()
    try:
        with _stop_on_sigterm(stop):
            spec = RunSpec.from_json((job_dir / "spec.json").read_text(encoding="utf-8"))
            set_threads(spec.threads)
            _lower_priority(NICE)
            _watch(job_dir / "stop", stop, time_limit_s)
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


def main(argv: list[str]) -> int:
    """``JOB_DIR [--time-limit SECONDS]``."""
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--time-limit"):
        print("usage: python -m services.worker JOB_DIR [--time-limit SECONDS]", file=sys.stderr)
        return 2
    try:
        limit = float(argv[2]) if len(argv) == 3 else 0.0
    except ValueError:
        limit = -1.0
    if not limit >= 0 or limit == float("inf"):
        print(f"--time-limit must be a number of seconds >= 0, got {argv[2]!r}", file=sys.stderr)
        return 2
    return run(Path(argv[0]), time_limit_s=limit)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
