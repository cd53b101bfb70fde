"""The rule engine the gateway calls for every reading, availability change and tick.

It runs each rule in turn (immediate mapping first, so a bug in a timed rule can never hold back a call or a
smoke alarm), passes what they return through the alarm book (:mod:`gateway.rules.alarm_book`: one alarm per
condition, cancel/repeat presses, escalation), and saves the state of both when it changed
(:mod:`gateway.rules.state`). Time comes only from the injected clock.

While the wall clock is not synchronised the night rules pause and inactivity sets its day windows aside (see
:mod:`gateway.rules.windows`); ``gateway.clock_unsynced`` says so once, ``gateway.clock_synced`` when the
clock is back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import tzinfo
from pathlib import Path
from typing import Any

from core.devices import Device
from core.events import EventDraft, Priority
from drivers.base import Reading
from gateway.rules.alarm_book import AlarmBook
from gateway.rules.base import Rule
from gateway.rules.bed_exit import BedExitRule
from gateway.rules.device_health import DeviceHealthRule
from gateway.rules.door_open import DoorOpenRule
from gateway.rules.exact import StateEntry
from gateway.rules.immediate import CONDITION_ALARMS, ImmediateRules
from gateway.rules.inactivity import InactivityRule
from gateway.rules.settings import RulesSettings
from gateway.rules.state import STATE_FILE, StateFile
from gateway.rules.vitals import VitalsRule
from gateway.rules.windows import DEFAULT_TIMEZONE, ClockLike, Now, zone

log = logging.getLogger(__name__)


class RuleEngine:
    """Runs the configured rules. Time comes from the injected clock; state lives under ``state_dir``.

    Arguments:
        settings: the ``[rules]`` section.
        clock: anything with ``stamp()`` like :class:`core.clock.Clock`.
        state_dir: where ``rules-state.json`` is kept (read here, once, before any reading).
        timezone: the zone used when ``settings.timezone`` is unset (the ``[gateway] timezone``).
    """

    def __init__(
        self, settings: RulesSettings, clock: ClockLike, state_dir: Path, *, timezone: str | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.state_dir = Path(state_dir)
        self._default_zone = timezone or DEFAULT_TIMEZONE
        self.tz: tzinfo = zone(DEFAULT_TIMEZONE)
        self.immediate = ImmediateRules(settings.battery_low_pct)
        self.inactivity = InactivityRule(settings)
        self.door = DoorOpenRule(settings)
        self.bed_exit = BedExitRule(settings)
        self.vitals = VitalsRule(settings)
        self.health = DeviceHealthRule(settings)
        self.rules: list[Rule] = [self.immediate, self.inactivity, self.door, self.bed_exit, self.vitals, self.health]
        self.book = AlarmBook(settings.alarms)
        self.state = StateFile(self.state_dir / STATE_FILE)
        self.clock_warned = False
        self.errors = 0
        self._use_zone()
        self._load()

    # ------------------------------------------------------------------ configuration

    def _use_zone(self) -> None:
        name = self.settings.timezone or self._default_zone
        try:
            self.tz = zone(name)
        except ValueError:
            log.error("rules: unknown time zone %r, using %s", name, DEFAULT_TIMEZONE)
            self.tz = zone(DEFAULT_TIMEZONE)

    def set_default_timezone(self, name: str | None) -> None:
        """The zone to use when ``[rules] timezone`` is unset (the gateway's ``[gateway] timezone``)."""
        self._default_zone = name or DEFAULT_TIMEZONE
        self._use_zone()

    def reconfigure(self, settings: RulesSettings) -> None:
        """New thresholds and schedules; running timers and open alarms are kept."""
        self.settings = settings
        for rule in self.rules:
            rule.reconfigure(settings)
        self.book.reconfigure(settings.alarms)
        self._use_zone()

    def set_test_mode(self, on: bool) -> list[EventDraft]:
        """Installation test mode: events carry ``test: true``, and alarms raised now never escalate. Turning it
        off resolves the test alarms still open (``alarm.resolved``, reason ``test_ended``): returns those."""
        self.book.test_mode = on
        if on:
            return []
        drafts = self.book.close_tests(self.now())
        self.persist()
        return drafts

    def now(self) -> Now:
        return Now.of(self.clock, self.tz)

    # ------------------------------------------------------------------ inputs

    def on_reading(self, reading: Reading, device: Device) -> list[EventDraft]:
        now = self.now()
        drafts: list[EventDraft] = []
        for rule in self.rules:
            try:
                drafts += rule.on_reading(reading, device, now)
            except Exception:  # one rule's bug must not stop the others, least of all the immediate alarm
                self.errors += 1
                log.exception("rule %s failed on a reading from %s", rule.name, device.id)
        return self._done(drafts, now)

    def on_availability(self, device: Device, online: bool, reason: str) -> list[EventDraft]:
        now = self.now()
        return self._done(self.health.availability(device, online, reason), now)

    def on_radio(self, transport: str, up: bool, reason: str) -> list[EventDraft]:
        kind = "gateway.radio_restored" if up else "gateway.radio_lost"
        return [EventDraft(kind, Priority.ALERT, None, {"transport": transport, "reason": reason})]

    def tick(self) -> list[EventDraft]:
        """Evaluate timed rules and the alarm book; called about once a second."""
        now = self.now()
        drafts = self._clock_warning(now)
        for rule in self.rules:
            try:
                drafts += rule.tick(now)
            except Exception:  # see on_reading
                self.errors += 1
                log.exception("rule %s failed on tick", rule.name)
        out = self._done(drafts, now)
        out += self.book.tick(now)
        self.persist()
        return out

    def _clock_warning(self, now: Now) -> list[EventDraft]:
        if not now.synced and not self.clock_warned:
            self.clock_warned = True
            data = {
                "paused": ["bed exit at night", "door opened at night"],
                "changed": ["inactivity counts around the clock (not while in bed) until the clock is set"],
            }
            log.warning("rules: wall clock not synchronised; night rules paused, inactivity ignores day windows")
            return [EventDraft("gateway.clock_unsynced", Priority.ALERT, None, data)]
        if now.synced and self.clock_warned:
            self.clock_warned = False
            log.info("rules: wall clock synchronised; day/night windows resumed")
            return [EventDraft("gateway.clock_synced", Priority.STATE, None, {"timezone": str(self.tz)})]
        return []

    def _done(self, drafts: list[EventDraft], now: Now) -> list[EventDraft]:
        out = self.book.process(drafts, now)
        self.persist()
        return out

    # ------------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, Any]:
        stamp = self.clock.stamp()
        return {
            "boot": stamp.boot,
            "saved_ts": stamp.wall_ms,
            "rules": {rule.name: rule.dump() for rule in self.rules},
            "alarms": self.book.dump(),
        }

    def persist(self) -> None:
        """Schedule a save if any rule or the book changed (cheap when nothing did)."""
        changed = self.book.dirty or self.state.dirty
        for rule in self.rules:
            changed |= rule.dirty
            rule.dirty = False
        self.book.dirty = False
        if changed:
            self.state.mark_dirty(self.snapshot)

    async def flush(self) -> None:
        """Save now if anything changed (at shutdown)."""
        self.persist()
        await self.state.flush(self.snapshot)

    def take_exact_state(self) -> list[StateEntry]:
        """State changes to commit with the events now being committed (see :mod:`gateway.rules.exact`)."""
        return self.immediate.exact.take()

    def exact_state_not_committed(self, entries: list[StateEntry]) -> None:
        """The commit that carried ``entries`` failed: they go with the next one."""
        self.immediate.exact.give_back(entries)

    def restore_exact(self, entries: Iterable[StateEntry]) -> None:
        """The state committed with the events (from the outbox), after the state file was read.

        It overrides the file, and the alarm book is made to agree with it: a condition alarm (smoke, gas, leak)
        the file still shows open although its "cleared" was committed is dropped, or the next real alarm of
        that condition would be taken for a repeat of it."""
        self.immediate.restore_exact(entries)
        for key, opened in list(self.book.open.items()):
            cap = CONDITION_ALARMS.get(opened.kind)
            if cap is None or opened.device is None:
                continue
            if self.immediate.condition(opened.device.id, cap) is not True:
                del self.book.open[key]
                self.book.dirty = True
                log.warning("rules: %s of %s was cleared before the restart; closed", opened.kind, opened.device.id)
        self.persist()

    def _load(self) -> None:
        doc = self.state.load()
        if not doc:
            return
        now = self.now()
        boot = str(doc.get("boot", ""))
        saved = doc.get("rules", {}) if isinstance(doc.get("rules"), dict) else {}
        for rule in self.rules:
            part = saved.get(rule.name)
            if isinstance(part, dict):
                try:
                    rule.restore(part, boot, now)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    log.error("rule %s: saved state not usable, starting it fresh: %s", rule.name, exc)
        alarms = doc.get("alarms")
        if isinstance(alarms, dict):
            try:
                self.book.restore(alarms, boot, now)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self.book.open.clear()
                log.error("alarm book: saved state not usable, starting it empty: %s", exc)
        log.info("rules: state restored (%d open alarms)", len(self.book.open))

    def status(self) -> dict[str, Any]:
        now = self.now()
        return {
            "open_alarms": [a.public(now.mono_ms) for a in self.book.open.values()],
            "alarm_stats": dict(self.book.stats),
            "clock_synced": now.synced,
            "timezone": str(self.tz),
            "inactivity": {
                "armed": self.inactivity.armed,
                "inactive_s": round(self.inactivity.accum_ms / 1000, 1),
                "away": self.inactivity.away,
                "alarmed": self.inactivity.alarmed,
            },
            "errors": self.errors,
            "state_writes": self.state.writes,
        }
