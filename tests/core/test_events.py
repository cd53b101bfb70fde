"""The event model and its JSON Schema."""

from __future__ import annotations

import json
import uuid

from core.clock import Clock
from core.events import DeviceRef, EventDraft, Priority, make_event, uuid7
from tests.support.schema import event_validator


def test_uuid7_is_version_7_and_sorts_by_time() -> None:
    ids = [uuid7() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids), "ids made later must sort later (same-ms ids use a counter)"
    for raw in ids[:50]:
        u = uuid.UUID(raw)
        assert u.version == 7
        assert u.variant == uuid.RFC_4122


def test_event_json_matches_schema_and_carries_clock_state() -> None:
    clock = Clock(assume_synced=False)
    draft = EventDraft(
        "alarm.emergency_call",
        Priority.ALARM,
        DeviceRef("btn-1", "call_button", "bedroom", "sim"),
        {"capability": "press", "value": True},
        trace="t-1",
    )
    ev = make_event(draft, "gw-1", clock)
    ev.seq = 17
    body = json.loads(ev.to_bytes())
    event_validator().validate(body)
    assert body["priority"] == "alarm"
    assert body["clock"]["boot"] == clock.boot_id
    assert isinstance(body["clock"]["synced"], bool)
    assert body["trace"] == "t-1"


def test_schema_rejects_an_event_without_seq() -> None:
    ev = make_event(EventDraft("state.door", Priority.STATE), "gw-1", Clock(assume_synced=True))
    body = json.loads(ev.to_bytes())  # seq is None until the outbox commits it
    assert list(event_validator().iter_errors(body)), "an uncommitted event must not validate"


def test_gateway_event_without_device_is_valid() -> None:
    ev = make_event(
        EventDraft("gateway.data_dropped", Priority.ALERT, None, {"dropped": {"telemetry_cap": 3}}),
        "gw-1",
        Clock(assume_synced=True),
    )
    ev.seq = 1
    event_validator().validate(json.loads(ev.to_bytes()))
