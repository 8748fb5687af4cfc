"""The worker's progress events: one JSON line each, parsed back strictly."""
import json

import pytest

from services.events import Done, Epoch, EventError, EventLog, Failed, Started, Step, Stopped, parse_line
from vae.progress import EpochReport, StepReport

STEP = StepReport(epoch=2, epochs=3, step=9, epoch_step=1, steps_per_epoch=8, recon=61.5, kl=4.25, loss=65.75,
                  kl_weight=0.5, samples_per_s=1234.5, eta_s=12.0)
EPOCH = EpochReport(epoch=2, epochs=3, train={"neg_elbo": 70.0, "recon": 65.0, "kl": 5.0},
                    test={"neg_elbo": 72.0, "active_units": 2}, seconds=1.23456, samples_per_s=999.96, eta_s=1.5)

EVENTS = [
    Started(epochs=3, steps_per_epoch=8, data="shapes (20000 images)", resumed_from_epoch=1, resumed_step=8),
    Step.from_report(STEP),
    Epoch.from_report(EPOCH, image="epoch-2.png"),
    Done(model_path="/models/x", metrics={"neg_elbo": 72.0, "active_units": 2}),
    Done(model_path="/models/y", metrics=None),
    Stopped(epoch=1, epoch_step=3, step=11),
    Stopped(epoch=1, epoch_step=3, step=11, reason="time limit of 30 min reached"),
    Failed(error="out of memory"),
    Failed(error="boom", detail="Traceback ..."),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_one_line(event):
    line = event.to_line()
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line)["type"] == type(event).TYPE
    back = parse_line(line)
    assert back == event and type(back) is type(event)
    assert parse_line(line.encode()) == event  # the registry reads bytes


def test_step_and_epoch_carry_the_reports():
    step = parse_line(Step.from_report(STEP).to_line())
    assert isinstance(step, StepReport) and {k: getattr(step, k) for k in STEP.__dataclass_fields__} == STEP.__dict__
    epoch = parse_line(Epoch.from_report(EPOCH, "e.png").to_line())
    assert (epoch.seconds, epoch.samples_per_s, epoch.eta_s) == (1.235, 1000.0, 1.5)  # rounded as the card's history
    assert epoch.test == EPOCH.test and epoch.image == "e.png" and epoch.epochs == 3


def test_infinite_eta_survives():
    step = Step.from_report(StepReport(1, 1, 1, 1, 1, 1.0, 1.0, 1.0, 1.0, 0.0, float("inf")))
    assert parse_line(step.to_line()).eta_s == float("inf")


def _line(**fields) -> str:
    return json.dumps(fields)


STOPPED = {"type": "stopped", "epoch": 1, "epoch_step": 2, "step": 3, "time": 1.0}


@pytest.mark.parametrize("line, message", [
    ("", "not a JSON line"),
    ("{truncated", "not a JSON line"),
    ("[1, 2]", "JSON object, got list"),
    (_line(epoch=1), "unknown event type None"),
    (_line(type="teleport"), "unknown event type 'teleport'"),
    (_line(type=["step"]), "unknown event type"),
    (_line(**{k: v for k, v in STOPPED.items() if k != "step"}), "stopped event: missing step"),
    (_line(**{k: v for k, v in STOPPED.items() if k != "time"}), "missing time"),
    (_line(**STOPPED, extra=1), "unknown extra"),
    (_line(**{**STOPPED, "epoch": "1"}), "wrong type for epoch='1'"),
    (_line(**{**STOPPED, "epoch": True}), "wrong type for epoch=True"),
    (_line(**{**STOPPED, "epoch": 1.5}), "wrong type for epoch=1.5"),
    (_line(**{**STOPPED, "reason": 5}), "wrong type for reason=5"),
    (_line(**{k: v for k, v in STOPPED.items() if k != "epoch"}, reason=None), "missing epoch"),
    (_line(type="done", model_path="/m", metrics=[1], time=1.0), "wrong type for metrics"),
    (_line(type="failed", error=None, detail=None, time=1.0), "wrong type for error"),
])
def test_malformed_lines_are_rejected_with_a_reason(line, message):
    with pytest.raises(EventError) as info:
        parse_line(line)
    assert message in str(info.value)


def test_a_stopped_line_from_before_reasons_still_parses():
    ev = parse_line(_line(**STOPPED))  # no "reason": written by an older worker
    assert ev == Stopped(epoch=1, epoch_step=2, step=3, time=1.0) and ev.reason is None
    assert parse_line(_line(**STOPPED, reason="the server shut down")).reason == "the server shut down"


def test_only_declared_fields_are_optional():
    assert Stopped.OPTIONAL == ("reason",)
    assert all(cls.OPTIONAL == () for cls in (Started, Step, Epoch, Done, Failed))


def test_floats_accept_json_integers():
    ev = parse_line(_line(type="failed", error="x", detail=None, time=5))
    assert isinstance(ev, Failed) and ev.time == 5


def test_event_log_appends_whole_lines(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    for ev in EVENTS[:3]:
        log.write(ev)
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [parse_line(line) for line in lines] == EVENTS[:3]
