"""The alarm book: every open alarm and where it stands. Plain code, time injected, saved with the rule state.

An alarm is *raised* when a rule returns an alarm-priority draft; it is keyed by kind and device
(``alarm.smoke|smoke-1``), so a repeated report of an open alarm never opens a second one. It is *sent* when the
broker acknowledged the message carrying it (PUBACK), *acknowledged* when the platform says so on
``fbgw/v1/{gateway}/alarms/ack``, and *resolved* when it is cleared at the source (``<kind>.cleared`` from
the rule) or closed by the platform; a call (a press has no "cleared") is also closed
``call_close_after_ack_s`` after its acknowledgement. Resolving removes it from the book, so the next
occurrence is a new alarm.

Without an acknowledgement the alarm is escalated ``escalate_after_s`` after it was raised, and again every
interval: re-sent as ``alarm.escalated`` (alarm priority) naming the original event. A second press of the
same button within ``cancel_window_s`` becomes ``alarm.cancel_requested`` (the call itself went out at the
first press; a long press is the first press still held, and never cancels); every other press while the
call is open is reported as ``alarm.repeated`` (a press is never dropped: each one is an event carrying its
own trace, but only the first opens an alarm).

Lifecycle steps are events too (``LIFECYCLE_KINDS``); they are never alarms themselves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from core.events import DeviceRef, Event, EventDraft, Priority
from gateway.rules.base import ref_of
from gateway.rules.settings import AlarmSettings
from gateway.rules.state import since_after_restart
from gateway.rules.windows import Now

LIFECYCLE_KINDS = frozenset(
    {
        "alarm.sent",
        "alarm.acknowledged",
        "alarm.resolved",
        "alarm.escalated",
        "alarm.cancel_requested",
        "alarm.repeated",
    }
)
#: Alarms with no "cleared" at the source: closed by the platform (or after their acknowledgement).
SOURCELESS = frozenset({"alarm.emergency_call"})
CLEARED = ".cleared"
#: Gestures that count as a second press (a cancel request inside the window). A long press is the first
#: press still held — an elder holding the cord in distress — and never cancels; double or other gestures of
#: a multi-function button are reported as repeats too.
PLAIN_PRESS = frozenset({None, "press"})
#: Event ids of recently resolved alarms, so a late or repeated ack is recognised rather than "unknown".
RECENT = 200

AckAction = Literal["ack", "close"]


def alarm_key(kind: str, device: DeviceRef | None) -> str:
    return f"{kind}|{device.id if device else '-'}"


def opens_alarm(kind: str, priority: Priority) -> bool:
    return priority == Priority.ALARM and kind not in LIFECYCLE_KINDS and not kind.endswith(CLEARED)


def is_test(opened: OpenAlarm) -> bool:
    """Raised in installation test mode (its raising event carried ``test: true``)."""
    return opened.data.get("test") is True


@dataclass(slots=True)
class OpenAlarm:
    key: str
    kind: str
    device: DeviceRef | None
    data: dict[str, Any]
    raised_mono: int
    event_id: str | None = None
    raised_ts: int | None = None
    sent: bool = False
    acked: bool = False
    acked_by: str | None = None
    acked_mono: int | None = None
    escalations: int = 0
    escalated_mono: int | None = None
    escalation_ids: list[str] = field(default_factory=list)
    repeats: int = 0
    cancel_requested: bool = False

    def ids(self) -> set[str]:
        return {i for i in (self.event_id, *self.escalation_ids) if i}

    def state(self) -> str:
        return "acknowledged" if self.acked else "sent" if self.sent else "raised"

    def public(self, now_mono: int) -> dict[str, Any]:
        """For pages, the heartbeat and command results."""
        return {
            "alarm": self.event_id,
            "kind": self.kind,
            "device": self.device.id if self.device else None,
            "state": self.state(),
            "age_s": round((now_mono - self.raised_mono) / 1000, 1),
            "escalations": self.escalations,
            "acked_by": self.acked_by,
        }


class AlarmBook:
    """Open alarms by key. Every method returns the lifecycle drafts it wants committed (or nothing)."""

    def __init__(self, settings: AlarmSettings) -> None:
        self.settings = settings
        self.open: dict[str, OpenAlarm] = {}
        self.recent: deque[str] = deque(maxlen=RECENT)
        self.dirty = False
        self.stats: dict[str, int] = {"raised": 0, "duplicates": 0, "resolved": 0, "escalations": 0, "acks": 0}
        #: Installation test mode: every draft carries ``test: true`` and the alarms it raises never escalate.
        self.test_mode = False

    # ------------------------------------------------------------------ from the rules

    def process(self, drafts: list[EventDraft], now: Now) -> list[EventDraft]:
        """Pass rule drafts through the book: open/close alarms, turn repeats into lifecycle drafts."""
        out: list[EventDraft] = []
        if self.test_mode:
            drafts = [replace(d, data={**d.data, "test": True}) for d in drafts]
        for draft in drafts:
            key = alarm_key(draft.kind, draft.device)
            if opens_alarm(draft.kind, draft.priority):
                out += self._raise(key, draft, now)
            elif draft.kind.endswith(CLEARED):
                out.append(draft)
                opened = self.open.get(alarm_key(draft.kind.removesuffix(CLEARED), draft.device))
                if opened is not None:
                    out.append(self._resolve(opened, "cleared", now, trace=draft.trace))
            else:
                out.append(draft)
        return out

    def _raise(self, key: str, draft: EventDraft, now: Now) -> list[EventDraft]:
        opened = self.open.get(key)
        if opened is None:
            self.open[key] = OpenAlarm(key, draft.kind, draft.device, dict(draft.data), now.mono_ms)
            self.stats["raised"] += 1
            self.dirty = True
            return [draft]
        if draft.kind not in SOURCELESS:
            self.stats["duplicates"] += 1  # the rule re-reported a condition already open
            return []
        self.dirty = True
        data = self._about(opened)
        gesture = draft.data.get("event")
        if gesture in self.settings.cancel_gestures and gesture != "long_press" and not opened.cancel_requested:
            opened.cancel_requested = True  # the configured "I'm OK" gesture: asked, the platform decides
            data.update(by="elder", how=f"gesture:{gesture}")
            return [EventDraft("alarm.cancel_requested", Priority.ALARM, opened.device, data, draft.trace)]
        if gesture not in PLAIN_PRESS:  # still held, or another gesture: never read as "cancel"
            data["event"] = gesture
            return [EventDraft("alarm.repeated", Priority.ALARM, opened.device, data, draft.trace)]
        window_ms = self.settings.cancel_window_s * 1000
        if window_ms > 0 and now.mono_ms - opened.raised_mono < window_ms and not opened.cancel_requested:
            opened.cancel_requested = True
            data.update(by="elder", how="second_press", within_s=self.settings.cancel_window_s)
            return [EventDraft("alarm.cancel_requested", Priority.ALARM, opened.device, data, draft.trace)]
        opened.repeats += 1
        data["repeats"] = opened.repeats
        return [EventDraft("alarm.repeated", Priority.ALARM, opened.device, data, draft.trace)]

    # ------------------------------------------------------------------ from the uplink and the platform

    def bind(self, event: Event) -> OpenAlarm | None:
        """A committed event: give the open alarm it raised (or escalated) its event id."""
        if opens_alarm(event.kind, event.priority):
            opened = self.open.get(alarm_key(event.kind, event.device))
            if opened is not None and opened.event_id is None:
                opened.event_id, opened.raised_ts = event.id, event.ts
                self.dirty = True
                return opened
        elif event.kind == "alarm.escalated":
            opened = self.open.get(alarm_key(str(event.data.get("kind")), event.device))
            if opened is not None:
                opened.escalation_ids = [*opened.escalation_ids[-9:], event.id]
                self.dirty = True
                return opened
        return None

    def delivered(self, event_id: str, kind: str = "", device_id: str | None = None) -> OpenAlarm | None:
        """The broker acknowledged the event ``event_id``: the alarm it raised is now sent (returned once).

        ``kind`` and ``device_id`` bind an alarm that lost its event id (a crash between the commit and the
        save of the book): the outbox re-sends the row after the restart, and this puts the id back.
        """
        opened = next((a for a in self.open.values() if a.event_id == event_id), None)
        if opened is None and kind:
            opened = self.open.get(f"{kind}|{device_id or '-'}")
            if opened is None or opened.event_id is not None:
                return None
            opened.event_id = event_id
        if opened is None or opened.sent:
            return None
        opened.sent = True
        self.dirty = True
        return opened

    def sent_draft(self, opened: OpenAlarm, now: Now) -> EventDraft:
        """The ``alarm.sent`` step: the broker has the alarm; how long that took from the rule raising it."""
        data = {**self._about(opened), "after_ms": max(0, now.mono_ms - opened.raised_mono)}
        return EventDraft("alarm.sent", Priority.ALERT, opened.device, data)

    def find(self, alarm_id: str) -> OpenAlarm | None:
        return next((a for a in self.open.values() if alarm_id in a.ids()), None)

    def ack(self, alarm_id: str, action: AckAction, by: str, note: str, now: Now) -> tuple[str, list[EventDraft]]:
        """The platform acknowledged (or closed) the alarm with event id ``alarm_id`` (or one of its escalations).

        Returns the alarm's state afterwards and the lifecycle drafts. Repeats are harmless: acknowledging an
        acknowledged alarm, or anything about a recently resolved one, changes nothing. Raises LookupError for
        an id the gateway does not know.
        """
        opened = self.find(alarm_id)
        if opened is None:
            if alarm_id in self.recent:
                return "resolved", []
            raise LookupError(alarm_id)
        self.stats["acks"] += 1
        self.dirty = True
        extra = {"by": by, **({"note": note} if note else {})}
        if action == "close":
            return "resolved", [self._resolve(opened, "closed", now, extra=extra)]
        if opened.acked:
            return "acknowledged", []
        opened.acked, opened.acked_by, opened.acked_mono = True, by, now.mono_ms
        data = {**self._about(opened), **extra, "after_s": round((now.mono_ms - opened.raised_mono) / 1000, 1)}
        return "acknowledged", [EventDraft("alarm.acknowledged", Priority.ALERT, opened.device, data)]

    # ------------------------------------------------------------------ time

    def tick(self, now: Now) -> list[EventDraft]:
        """Escalate unacknowledged alarms once per interval; close acknowledged calls that were left open."""
        out: list[EventDraft] = []
        every_ms = self.settings.escalate_after_s * 1000
        close_ms = self.settings.call_close_after_ack_s * 1000
        for opened in list(self.open.values()):
            if opened.acked:
                if (
                    opened.kind in SOURCELESS
                    and close_ms > 0
                    and opened.acked_mono is not None
                    and now.mono_ms - opened.acked_mono >= close_ms
                ):
                    out.append(self._resolve(opened, "expired", now))
                continue
            if self.settings.escalate_max and opened.escalations >= self.settings.escalate_max:
                continue
            if is_test(opened):  # a technician's test press: the platform sees it, nobody is called out
                continue
            since = opened.escalated_mono if opened.escalated_mono is not None else opened.raised_mono
            if now.mono_ms - since < every_ms:
                continue
            opened.escalations += 1
            opened.escalated_mono = now.mono_ms
            self.stats["escalations"] += 1
            self.dirty = True
            data = {
                **self._about(opened),
                "escalation": opened.escalations,
                "unacknowledged_s": round((now.mono_ms - opened.raised_mono) / 1000, 1),
                "raised_ts": opened.raised_ts,
                "original": opened.data,
            }
            out.append(EventDraft("alarm.escalated", Priority.ALARM, opened.device, data))
        return out

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _about(opened: OpenAlarm) -> dict[str, Any]:
        about: dict[str, Any] = {"alarm": opened.event_id, "kind": opened.kind}
        if is_test(opened):
            about["test"] = True
        return about

    def close_tests(self, now: Now) -> list[EventDraft]:
        """Test mode ended: resolve its alarms (reason ``test_ended``), so a real press is a new call again."""
        return [self._resolve(a, "test_ended", now) for a in list(self.open.values()) if is_test(a)]

    def _resolve(
        self, opened: OpenAlarm, reason: str, now: Now, *, extra: dict[str, Any] | None = None, trace: str | None = None
    ) -> EventDraft:
        del self.open[opened.key]
        if opened.event_id:
            self.recent.append(opened.event_id)
        self.recent.extend(opened.escalation_ids)
        self.stats["resolved"] += 1
        self.dirty = True
        data = {
            **self._about(opened),
            "reason": reason,
            "state": opened.state(),
            "open_s": round((now.mono_ms - opened.raised_mono) / 1000, 1),
            "escalations": opened.escalations,
            **(extra or {}),
        }
        return EventDraft("alarm.resolved", Priority.ALERT, opened.device, data, trace)

    def reconfigure(self, settings: AlarmSettings) -> None:
        self.settings = settings

    # ------------------------------------------------------------------ persistence

    def dump(self) -> dict[str, Any]:
        return {
            "open": [
                {
                    "key": a.key,
                    "kind": a.kind,
                    "device": a.device.as_json() if a.device else None,
                    "data": a.data,
                    "raised_mono": a.raised_mono,
                    "event_id": a.event_id,
                    "raised_ts": a.raised_ts,
                    "sent": a.sent,
                    "acked": a.acked,
                    "acked_by": a.acked_by,
                    "acked_mono": a.acked_mono,
                    "escalations": a.escalations,
                    "escalated_mono": a.escalated_mono,
                    "escalation_ids": a.escalation_ids,
                    "repeats": a.repeats,
                    "cancel_requested": a.cancel_requested,
                }
                for a in self.open.values()
            ],
            "recent": list(self.recent),
        }

    def restore(self, doc: dict[str, Any], saved_boot: str, now: Now) -> None:
        def mono(value: Any) -> int | None:
            return since_after_restart(value if isinstance(value, int) else None, saved_boot, now.mono_ms, now.boot)

        saved_open, saved_recent = doc.get("open", []), doc.get("recent", [])
        if not isinstance(saved_open, list) or not isinstance(saved_recent, list):
            raise TypeError("saved alarm book: 'open' and 'recent' must be lists")
        for raw in saved_open:
            try:
                device = ref_of(raw["device"]) if raw["device"] is not None else None
                opened = OpenAlarm(
                    key=str(raw["key"]),
                    kind=str(raw["kind"]),
                    device=device,
                    data=dict(raw["data"]),
                    raised_mono=mono(raw["raised_mono"]) or now.mono_ms,
                    event_id=raw.get("event_id"),
                    raised_ts=raw.get("raised_ts"),
                    sent=bool(raw.get("sent")),
                    acked=bool(raw.get("acked")),
                    acked_by=raw.get("acked_by"),
                    acked_mono=mono(raw.get("acked_mono")),
                    escalations=int(raw.get("escalations", 0)),
                    escalated_mono=mono(raw.get("escalated_mono")),
                    escalation_ids=[str(i) for i in raw.get("escalation_ids", [])],
                    repeats=int(raw.get("repeats", 0)),
                    cancel_requested=bool(raw.get("cancel_requested")),
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            self.open[opened.key] = opened
        self.recent.extend(str(i) for i in saved_recent if isinstance(i, str))
