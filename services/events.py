"""The training job's progress events: one typed definition for the worker that writes them and
the job registry that reads them.

Each event is one JSON line in ``JOB_DIR/events.jsonl``: ``{"type": TAG, "time": UNIX_SECONDS, ...fields}``.
A job writes ``start``, ``step`` (throttled), ``epoch`` (after each epoch, with its preview image),
then one of ``done`` / ``stopped`` / ``failed``. :func:`parse_line` checks the tag, that every field
is present (but an event's few ``OPTIONAL`` ones, added later) with the right JSON type and that
there are no others; a bad line raises :class:`EventError`. No Streamlit and no torch here.
"""
from __future__ import annotations

import dataclasses
import json
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Union

from vae.progress import EpochReport, StepReport


class EventError(ValueError):
    """A line that is not a valid progress event; the message says why."""


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class _Event:
    TYPE: ClassVar[str] = ""
    OPTIONAL: ClassVar[tuple[str, ...]] = ()  # fields a line may leave out (added later, with a default)

    def to_line(self) -> str:
        """One JSON line (with its newline)."""
        return json.dumps({"type": self.TYPE, **dataclasses.asdict(self)}) + "\n"


@dataclass(frozen=True)
class Started(_Event):
    """The job has its data and model: ``resumed_*`` are 0 for a fresh run."""

    TYPE: ClassVar[str] = "start"
    epochs: int
    steps_per_epoch: int
    data: str
    resumed_from_epoch: int
    resumed_step: int
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class Step(StepReport, _Event):
    """A :class:`StepReport` (every field of it) and when it was sent."""

    TYPE: ClassVar[str] = "step"
    time: float = field(default_factory=_now)

    @classmethod
    def from_report(cls, r: StepReport) -> Step:
        return cls(**dataclasses.asdict(r))


@dataclass(frozen=True)
class Epoch(EpochReport, _Event):
    """An :class:`EpochReport` (times rounded as in its ``to_dict``) and its preview ``image`` (a
    file name in the job folder)."""

    TYPE: ClassVar[str] = "epoch"
    image: str = ""
    time: float = field(default_factory=_now)

    @classmethod
    def from_report(cls, r: EpochReport, image: str) -> Epoch:
        return cls(**{**dataclasses.asdict(r), **r.to_dict()}, image=image)


@dataclass(frozen=True)
class Done(_Event):
    TYPE: ClassVar[str] = "done"
    model_path: str
    metrics: dict | None
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class Stopped(_Event):
    """``reason``: None when the user asked it to stop, else why the worker stopped itself (a
    phrase for the user, such as "time limit of 30 min reached"). Lines written before the field
    existed have no ``reason``: it may be absent (and is then None)."""

    TYPE: ClassVar[str] = "stopped"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("reason",)
    epoch: int
    epoch_step: int
    step: int
    time: float = field(default_factory=_now)
    reason: str | None = None


@dataclass(frozen=True)
class Failed(_Event):
    """``error`` is for the user; ``detail`` (a traceback tail, or None) for the log."""

    TYPE: ClassVar[str] = "failed"
    error: str
    detail: str | None = None
    time: float = field(default_factory=_now)


Event = Started | Step | Epoch | Done | Stopped | Failed
EVENT_TYPES: dict[str, type] = {cls.TYPE: cls for cls in (Started, Step, Epoch, Done, Stopped, Failed)}


def _type_ok(value: Any, hint: Any) -> bool:
    """``value`` (from JSON) fits the annotation ``hint`` (int, float, str, dict, or X | None)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is Union:
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def parse_line(line: str | bytes) -> Event:
    """The event on one line; raises :class:`EventError` for anything else."""
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EventError(f"not a JSON line ({exc})") from None
    if not isinstance(data, dict):
        raise EventError(f"an event is a JSON object, got {type(data).__name__}")
    kind = data.pop("type", None)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventError(f"unknown event type {kind!r}; expected one of {', '.join(EVENT_TYPES)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    absent = [n for n in names if n not in data and n not in cls.OPTIONAL]
    problems = [f"missing {', '.join(absent)}"] if absent else []
    problems += [f"unknown {', '.join(sorted(set(data) - set(names)))}"] if set(data) - set(names) else []
    if problems:
        raise EventError(f"{kind} event: {'; '.join(problems)} field(s)")
    wrong = [f"{n}={data[n]!r}" for n in names if n in data and not _type_ok(data[n], hints[n])]
    if wrong:
        raise EventError(f"{kind} event: wrong type for {', '.join(wrong)}")
    return cls(**data)


class EventLog:
    """Append-only writer of ``events.jsonl``: each event is one whole line, written and closed at
    once, so the registry sees progress immediately (steps are throttled, so this is cheap)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, event: Event) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(event.to_line())


__all__ = ["Done", "Epoch", "Event", "EventError", "EventLog", "Failed", "Started", "Step", "Stopped", "parse_line"]
