"""What every rule looks like to the engine, and small helpers they share.

A rule is plain code: it is handed a reading (or a tick) and :class:`~gateway.rules.windows.Now`, and returns
event drafts. It keeps its own state in plain dicts and can dump/restore it (see :mod:`gateway.rules.state`).
It never reads a clock, a file or a global: tests drive it with a fake clock in milliseconds.

Alarm-priority drafts a rule returns *open* an alarm; a draft whose kind is ``<alarm kind>.cleared`` with
the same device *clears* it at the source. The engine passes both to the alarm lifecycle
(:mod:`gateway.rules.alarm_book`), which the rules themselves know nothing about.
"""

from __future__ import annotations

from typing import Any, Protocol

from core.devices import Device
from core.events import DeviceRef, EventDraft
from drivers.base import Reading
from gateway.rules.settings import RulesSettings
from gateway.rules.windows import Now


class Rule(Protocol):
    """One rule. ``dirty`` is set when state worth saving changed (the engine clears it after saving)."""

    name: str
    dirty: bool

    def on_reading(self, reading: Reading, device: Device, now: Now) -> list[EventDraft]: ...

    def tick(self, now: Now) -> list[EventDraft]: ...

    def reconfigure(self, settings: RulesSettings) -> None: ...

    def dump(self) -> dict[str, Any]: ...

    def restore(self, doc: dict[str, Any], saved_boot: str, now: Now) -> None: ...


def ref_json(ref: DeviceRef) -> dict[str, str]:
    return ref.as_json()


def ref_of(doc: Any) -> DeviceRef | None:
    """A DeviceRef from its saved JSON, or None if it does not look like one."""
    if not isinstance(doc, dict):
        return None
    try:
        return DeviceRef(str(doc["id"]), str(doc["type"]), str(doc["room"]), str(doc["transport"]))
    except KeyError:
        return None


def seconds(ms: int) -> float:
    """Milliseconds as seconds, rounded for event data."""
    return round(ms / 1000, 1)
