"""The care book: what is due, taken, missed, who is visiting, and today's counts. Plain code over wall time.

The service feeds it committed events (:meth:`CareBook.on_event`) and the time (:meth:`CareBook.tick`); each
returns the drafts to commit. Everything it knows is in :meth:`dump` / :meth:`restore`, so a restart in the
middle of a routine carries on: a reminder due before the restart is still waiting for its press, one whose
whole window passed while the gateway was off is reported missed (``reason: "not_shown"``), and nothing
before the care schedule first ran is ever reported.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from core.events import Event, EventDraft, Priority
from gateway.rules.alarm_book import opens_alarm
from gateway.settings.care import CareSettings

DAY_MS = 86_400_000


def _local_ms(day: date, hhmm: str, tz: tzinfo) -> int:
    hh, mm = (int(x) for x in hhmm.split(":"))
    return int(datetime.combine(day, time(hh, mm), tz).timestamp() * 1000)


def _empty_counts() -> dict[str, Any]:
    return {
        "motion_by_hour": [0] * 24,
        "door_openings": 0,
        "in_bed_s": 0,
        "alarms": 0,
        "reminders_taken": 0,
        "reminders_missed": 0,
        "checkin": None,
        "visits": 0,
        "visit_s": 0,
    }


class CareBook:
    def __init__(self, settings: CareSettings, tz: tzinfo) -> None:
        self.settings, self.tz = settings, tz
        self.since_ms: int | None = None  # when the schedule first ran: nothing before it is ever "missed"
        self.reminders: dict[str, dict[str, Any]] = {}  # "name|YYYY-MM-DD" -> {state, due_ms, ...}
        self.checkins: dict[str, str] = {}  # "YYYY-MM-DD" -> "done" | "missed"
        self.summaries: set[str] = set()  # dates summarised
        self.visits: dict[str, dict[str, Any]] = {}  # badge id or "button" -> {caregiver, started, last_seen, how}
        self.presses: list[int] = []  # recent care-button press times (visit sequence)
        self.bed_since: int | None = None
        self.counts = _empty_counts()
        self.dirty = False

    # ------------------------------------------------------------------ time

    def _days(self, now_ms: int) -> list[date]:
        today = datetime.fromtimestamp(now_ms / 1000, self.tz).date()
        return [today - timedelta(days=1), today]

    def tick(self, now_ms: int) -> list[EventDraft]:
        if self.since_ms is None:
            self.since_ms, self.dirty = now_ms, True
        out: list[EventDraft] = []
        for day in self._days(now_ms):
            out += self._reminders(day, now_ms)
            out += self._checkin(day, now_ms)
            out += self._summary(day, now_ms)
        out += self._visits_gone(now_ms)
        self._prune(now_ms)
        return out

    def _reminders(self, day: date, now_ms: int) -> list[EventDraft]:
        out: list[EventDraft] = []
        assert self.since_ms is not None
        for r in self.settings.reminders:
            due = _local_ms(day, r.at, self.tz)
            deadline = due + r.ack_within_min * 60_000
            key = f"{r.name}|{day.isoformat()}"
            rec = self.reminders.get(key)
            about = {"name": r.name, "date": day.isoformat(), "at": r.at}
            if now_ms < due or due < self.since_ms - 60_000:
                continue
            if rec is None:
                if now_ms < deadline:
                    self.reminders[key] = {"state": "due", "due_ms": due}
                    out.append(EventDraft("care.reminder_due", Priority.STATE, None, dict(about)))
                else:  # the whole window passed while the gateway was off: the elder was never reminded
                    self.reminders[key] = {"state": "missed", "due_ms": due}
                    self.counts["reminders_missed"] += 1
                    data = {**about, "ack_within_min": r.ack_within_min, "reason": "not_shown"}
                    out.append(EventDraft("care.reminder_missed", Priority.ALERT, None, data))
                self.dirty = True
            elif rec["state"] == "due" and now_ms >= deadline:
                rec["state"] = "missed"
                self.counts["reminders_missed"] += 1
                self.dirty = True
                data = {**about, "ack_within_min": r.ack_within_min, "reason": "no_ack"}
                out.append(EventDraft("care.reminder_missed", Priority.ALERT, None, data))
        return out

    def _checkin(self, day: date, now_ms: int) -> list[EventDraft]:
        c = self.settings.checkin
        if c is None:
            return []
        end = _local_ms(day, c.end, self.tz)
        assert self.since_ms is not None
        key = day.isoformat()
        if now_ms < end or key in self.checkins or end < self.since_ms:
            return []
        self.checkins[key] = "missed"
        self.counts["checkin"] = False
        self.dirty = True
        data = {"date": key, "start": c.start, "end": c.end}
        return [EventDraft("care.checkin_missed", Priority.ALERT, None, data)]

    def _summary(self, day: date, now_ms: int) -> list[EventDraft]:
        at = self.settings.summary_at
        if at is None:
            return []
        when = _local_ms(day, at, self.tz)
        key = day.isoformat()
        assert self.since_ms is not None
        if now_ms < when or key in self.summaries or when < self.since_ms:
            return []
        self.summaries.add(key)
        if self.bed_since is not None:  # in bed now: count up to the summary, carry on from it
            self.counts["in_bed_s"] += max(0, (when - self.bed_since) // 1000)
            self.bed_since = when
        data = {"date": key, "at": at, **self.counts, "late": now_ms - when > 60_000}
        self.counts = _empty_counts()
        self.dirty = True
        return [EventDraft("care.activity_summary", Priority.STATE, None, data)]

    def _visits_gone(self, now_ms: int) -> list[EventDraft]:
        gone_ms = self.settings.visit_gone_s * 1000
        out: list[EventDraft] = []
        for key, v in list(self.visits.items()):
            if v["how"] == "badge" and now_ms - v["last_seen"] >= gone_ms:
                out.append(self._end_visit(key, v["last_seen"], "badge_gone"))
        return out

    def _prune(self, now_ms: int) -> None:
        oldest = (datetime.fromtimestamp(now_ms / 1000, self.tz).date() - timedelta(days=3)).isoformat()
        for key in [k for k in self.reminders if k.rsplit("|", 1)[1] < oldest]:
            del self.reminders[key]
        for key in [k for k in self.checkins if k < oldest]:
            del self.checkins[key]
        self.summaries = {d for d in self.summaries if d >= oldest}

    # ------------------------------------------------------------------ events

    def on_event(self, event: Event) -> list[EventDraft]:
        device = event.device.id if event.device else None
        ts = event.ts
        out: list[EventDraft] = []
        kind = event.kind
        if kind == "state.motion":
            hour = datetime.fromtimestamp(ts / 1000, self.tz).hour
            self.counts["motion_by_hour"][hour] += 1
        elif kind == "state.door" and event.data.get("value") == "open":
            self.counts["door_openings"] += 1
            out += self._ack(device, ts, "opened")
        elif kind == "state.bed":
            if event.data.get("value") is True and self.bed_since is None:
                self.bed_since = ts
            elif event.data.get("value") is False and self.bed_since is not None:
                self.counts["in_bed_s"] += max(0, (ts - self.bed_since) // 1000)
                self.bed_since = None
        elif kind == "state.care_button":
            if not self.settings.care_buttons or device in self.settings.care_buttons:
                out += self._care_press(device, ts)
        elif kind == "state.badge_seen" and device in self.settings.badges:
            out += self._badge(device, ts)
        elif opens_alarm(kind, event.priority) and event.data.get("test") is not True:
            self.counts["alarms"] += 1
            if kind == "alarm.emergency_call":
                out += self._ack(device, ts, "pressed")
        else:
            return out
        self.dirty = True
        return out

    def _ack(self, device: str | None, ts: int, how: str, care_button: bool = False) -> list[EventDraft]:
        """Acknowledge the due reminders this device acknowledges (a care button: every due reminder)."""
        out: list[EventDraft] = []
        for r in self.settings.reminders:
            if not care_button and device not in r.ack_devices:
                continue
            for key, rec in self.reminders.items():
                if key.rsplit("|", 1)[0] == r.name and rec["state"] == "due":
                    rec["state"] = "taken"
                    self.counts["reminders_taken"] += 1
                    data = {
                        "name": r.name,
                        "date": key.rsplit("|", 1)[1],
                        "after_s": max(0, (ts - rec["due_ms"]) // 1000),
                        "by": device,
                        "how": how,
                    }
                    out.append(EventDraft("care.reminder_taken", Priority.STATE, None, data))
        return out

    def _care_press(self, device: str | None, ts: int) -> list[EventDraft]:
        out = self._ack(device, ts, "care_button", care_button=True)
        c = self.settings.checkin
        if c is not None:
            local = datetime.fromtimestamp(ts / 1000, self.tz)
            key = local.date().isoformat()
            if c.start <= local.strftime("%H:%M") < c.end and key not in self.checkins:
                self.checkins[key] = "done"
                self.counts["checkin"] = True
                out.append(EventDraft("care.checkin", Priority.STATE, None, {"date": key, "device": device}))
        window = self.settings.sequence_s * 1000
        self.presses = [p for p in self.presses if ts - p < window] + [ts]
        if len(self.presses) >= self.settings.visit_presses:
            self.presses = []
            if "button" in self.visits:
                out.append(self._end_visit("button", ts, "button"))
            else:
                out.append(self._start_visit("button", "caregiver", ts, "button"))
        return out

    def _badge(self, badge: str, ts: int) -> list[EventDraft]:
        v = self.visits.get(badge)
        if v is not None:
            v["last_seen"] = max(v["last_seen"], ts)
            return []
        return [self._start_visit(badge, self.settings.badges[badge], ts, "badge")]

    def _start_visit(self, key: str, caregiver: str, ts: int, how: str) -> EventDraft:
        self.visits[key] = {"caregiver": caregiver, "started": ts, "last_seen": ts, "how": how}
        data = {"caregiver": caregiver, "badge": key if how == "badge" else None, "how": how, "started_ts": ts}
        return EventDraft("care.visit_started", Priority.STATE, None, data)

    def _end_visit(self, key: str, end_ts: int, reason: str) -> EventDraft:
        v = self.visits.pop(key)
        duration = max(0, (end_ts - v["started"]) // 1000)
        self.counts["visits"] += 1
        self.counts["visit_s"] += duration
        self.dirty = True
        data = {
            "caregiver": v["caregiver"],
            "badge": key if v["how"] == "badge" else None,
            "how": v["how"],
            "started_ts": v["started"],
            "ended_ts": end_ts,
            "duration_s": duration,
            "reason": reason,
        }
        return EventDraft("care.visit_ended", Priority.STATE, None, data)

    def due_now(self) -> list[str]:
        """Names of reminders waiting for their acknowledgement."""
        return sorted({k.rsplit("|", 1)[0] for k, rec in self.reminders.items() if rec["state"] == "due"})

    # ------------------------------------------------------------------ persistence

    def dump(self) -> dict[str, Any]:
        return {
            "since_ms": self.since_ms,
            "reminders": self.reminders,
            "checkins": self.checkins,
            "summaries": sorted(self.summaries),
            "visits": self.visits,
            "bed_since": self.bed_since,
            "counts": self.counts,
        }

    def restore(self, doc: dict[str, Any]) -> None:
        self.since_ms = doc.get("since_ms")
        self.reminders = dict(doc.get("reminders", {}))
        self.checkins = dict(doc.get("checkins", {}))
        self.summaries = set(doc.get("summaries", []))
        self.visits = dict(doc.get("visits", {}))
        self.bed_since = doc.get("bed_since")
        counts = _empty_counts()
        counts.update(doc.get("counts", {}))
        self.counts = counts
