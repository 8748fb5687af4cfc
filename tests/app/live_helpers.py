"""Helpers for AppTest tests of the live component (ui/live.py).

AppTest cannot run the component's JavaScript, so the tests read what the browser would get
(the component's data) and send what the browser would send: a state value (a released
slider) or a trigger (a click on the pad), the way the frontend does, as widget states in the
run request.
"""
from __future__ import annotations

import json
from typing import Any

TRIGGER_PREFIX = "$$STREAMLIT_INTERNAL_KEY"


def live_elements(at) -> list:
    return [el for el in at.get("bidi_component") if el.proto.component_name == "vae_live"]


def live_data(at, kind: str) -> dict[str, Any]:
    """The data of the one live component of ``kind`` ('view', 'sliders' or 'pad')."""
    found = [json.loads(el.proto.json) for el in live_elements(at) if json.loads(el.proto.json)["kind"] == kind]
    assert len(found) == 1, f"expected one live {kind}, found {len(found)}"
    return found[0]


def _element(at, key: str):
    (el,) = [el for el in live_elements(at) if el.proto.id.endswith(f"-{key}")]
    return el


def set_state(at, key: str, **values: Any):
    """Send component state, as setStateValue(name, value) does for each of ``values``."""
    states = at._tree.get_widget_states()
    el = _element(at, key)
    for w in states.widgets:
        if w.id == el.proto.id:
            old = json.loads(w.json_value or "{}")
            break
    else:
        w, old = states.widgets.add(), {}
        w.id = el.proto.id
    w.json_value = json.dumps({**old, **values})
    at._run(states)
    assert not at.exception, at.exception
    return at


def trigger(at, key: str, event: str, value: Any):
    """Send one trigger, as setTriggerValue(event, value) does."""
    states = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = f"{TRIGGER_PREFIX}_{_element(at, key).proto.id}__events"
    w.json_trigger_value = json.dumps([{"event": event, "value": value}])
    at._run(states)
    assert not at.exception, at.exception
    return at
