"""The ``second_path`` service: SMS and calls when an alarm does not reach the platform in time.

Per alarm (docs/alarm-lifecycle.md, "Second path"):

1. ``sms = "always"``: every guardian gets the alarm by SMS at once.
2. No PUBACK from the broker within ``sms_after_s`` of the alarm being raised, or the uplink already down: one
   SMS to each contact (a repeat press adds nothing: the alarm book keeps one alarm open per device).
3. SMS went out and nobody acknowledged within ``call_after_s`` of the raise: call the call centre, then the
   guardians in order, until one answers.
4. A reply "1"/"收到"/"好"/"ok" from a contact acknowledges the newest open alarm that contact was told about
   (``alarm.acknowledged`` with ``by: "sms"``), exactly like the platform's acknowledgement.
5. The alarm resolved: one short "resolved" SMS to everyone who got the alarm SMS.

Every step is an event through the outbox (``alarm.sms_sent``, ``alarm.call_placed``), so the platform learns
later which path delivered and who answered. Nothing is sent in installation test mode (only to a
``technician`` contact, if one is configured).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.devices import DeviceRef
from core.events import Event, EventDraft, Priority
from core.phone import CallResult, IncomingSms, SmsResult, same_number
from core.secrets import add_secret
from drivers.base import ReadingRefused
from gateway.failover import ledger as ledgers
from gateway.failover.messages import alarm_sms, always_sms, resolved_sms
from gateway.failover.replies import is_ack
from gateway.rules.alarm_book import opens_alarm
from gateway.settings.modem import Contact, ModemSettings

if TYPE_CHECKING:
    from core.signal import Unsubscribe
    from gateway.config import Config
    from gateway.context import ServiceContext
    from gateway.outbox import Row
    from gateway.ports import AlarmAcks, Cellular, TestMode

log = logging.getLogger(__name__)

#: How often an alarm SMS that could not be sent (modem not ready) is tried again, until the alarm is delivered,
#: acknowledged or resolved.
SMS_RETRY_S = 2.0
#: Rounds an SMS left "sending" by a crash waits for the modem to say whether it left, before it is sent again
#: (a duplicate beats a lost alarm).
SENDING_CHECKS = 15


class SecondPath:
    """See the module docstring. ``cellular`` is None when no modem driver runs (every SMS then fails as
    ``no_modem``, and the events say so)."""

    name = "second_path"

    def __init__(
        self, ctx: ServiceContext, alarms: AlarmAcks, cellular: Cellular | None, test_mode: TestMode | None = None
    ) -> None:
        self.ctx = ctx
        self.alarms = alarms
        self.cellular = cellular
        self.test_mode = test_mode
        self.settings: ModemSettings = ctx.config().modem
        self.path = ctx.state_dir / ledgers.LEDGER_FILE
        self.ledger = ledgers.Ledger()
        self.stats: dict[str, int] = {
            "sms_sent": 0,
            "sms_failed": 0,
            "sms_skipped": 0,
            "calls": 0,
            "calls_answered": 0,
            "replies_ack": 0,
            "replies_other": 0,
            "replies_unknown": 0,
        }
        self._raised_mono: dict[str, float] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Unsubscribe] = []
        self._save_lock = asyncio.Lock()
        self._sending_marks_checked = 0

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        self._register_numbers(self.settings)
        self.ledger = await asyncio.to_thread(ledgers.load, self.path)
        self._unsubscribe = [
            self.ctx.committed.connect(self._committed),
            self.ctx.delivered.connect(self._delivered),
            self.ctx.uplink.state_changed.connect(self._uplink_changed),
        ]
        if self.cellular is not None:
            self._unsubscribe.append(self.cellular.incoming_sms.connect(self._incoming))
        now_wall = self.ctx.clock.wall_ms()
        for case in self.ledger.cases.values():  # alarms still open before a restart: carry on where we were
            if case.resolved:
                continue
            elapsed = max(0.0, (now_wall - case.raised_ms) / 1000) if self.ctx.clock.synced() and case.synced else 0
            self._raised_mono[case.alarm] = time.monotonic() - elapsed
            self._spawn(self._follow(case), case.alarm)

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self._save()

    async def reconfigure(self, config: Config) -> None:
        self.settings = config.modem
        self._register_numbers(config.modem)

    @staticmethod
    def _register_numbers(settings: ModemSettings) -> None:
        for contact in settings.contacts:  # numbers never reach a log line, in any of their forms
            add_secret(contact.number)
            add_secret(contact.number.removeprefix("+86"))

    def status(self) -> dict[str, Any]:
        open_cases = [c for c in self.ledger.cases.values() if not c.resolved]
        return {
            "enabled": self.settings.enabled,
            "contacts": len(self.settings.contacts),
            "open": len(open_cases),
            "month_used": self.ledger.month_used,
            **self.stats,
        }

    # ------------------------------------------------------------------ what happens elsewhere

    def _committed(self, events: Sequence[Event]) -> None:
        """Runs in the outbox writer's path: only bookkeeping here; the sending happens in tasks."""
        for event in events:
            if opens_alarm(event.kind, event.priority):
                self._raised(event)
            elif event.kind in ("alarm.acknowledged", "alarm.resolved"):
                case = self.ledger.cases.get(str(event.data.get("alarm")))
                if case is None:
                    continue
                if event.kind == "alarm.acknowledged":
                    case.acked = True
                else:
                    case.resolved = True
                    by = str(event.data.get("by") or event.data.get("reason") or "")
                    if case.texted_ok():
                        self._spawn(self._tell_resolved(case, by), case.alarm)
                self._poke(case.alarm)

    def _raised(self, event: Event) -> None:
        if not self.settings.enabled or not self.settings.contacts or event.id in self.ledger.cases:
            return
        device = event.device
        case = ledgers.Case(
            alarm=event.id,
            kind=event.kind,
            device=device.id if device else None,
            device_type=device.type if device else "",
            transport=device.transport if device else "",
            room=device.room if device else "",
            raised_ms=event.ts,
            synced=bool(event.clock.get("synced", True)),
            test=self.test_mode is not None and self.test_mode.test_mode_active,
        )
        self.ledger.cases[event.id] = case
        self._raised_mono[event.id] = time.monotonic()
        self._spawn(self._follow(case), event.id)

    def _delivered(self, rows: Sequence[Row]) -> None:
        for row in rows:
            if row.prio != Priority.ALARM:
                continue
            try:
                alarm_id = str(json.loads(row.body).get("id"))
            except (ValueError, AttributeError):
                continue
            case = self.ledger.cases.get(alarm_id)
            if case is not None:
                case.delivered = True
                self._poke(alarm_id)

    def _uplink_changed(self, online: bool) -> None:
        if not online:
            for alarm_id in list(self._wake):
                self._poke(alarm_id)

    def _incoming(self, sms: IncomingSms) -> None:
        self._spawn(self._reply(sms), "reply")

    # ------------------------------------------------------------------ one alarm

    async def _follow(self, case: ledgers.Case) -> None:
        try:
            await self._follow_steps(case)
        finally:  # the raise time and the wake-up are this alarm's only while it is followed: no growth per alarm
            self._raised_mono.pop(case.alarm, None)
            self._wake.pop(case.alarm, None)

    async def _follow_steps(self, case: ledgers.Case) -> None:
        s = self.settings
        if s.sms == "always" and not case.delivered:
            guardians = [c for c in s.contacts if c.role == "guardian"]
            await self._text_alarm(case, guardians, "always")
        # Fallback: the platform must have the alarm within sms_after_s, or contacts are told.
        await self._wait_until(case, s.sms_after_s, lambda: case.delivered or not self.ctx.uplink.connected)
        everyone = [c for c in s.contacts if c.role != "technician"]
        while not (case.delivered or case.acked or case.resolved):
            await self._text_alarm(case, everyone, "fallback")
            if all(case.texted.get(c.label) == "sent" for c in self._audience(case, everyone)):
                break
            # A modem not ready yet (booting, no signal, SIM swapped): try the ones not reached again.
            await self._pause(case, SMS_RETRY_S)
        if not case.texted_ok() or case.acked or case.resolved:
            return
        await self._wait_until(case, s.call_after_s, lambda: False)
        if not (case.acked or case.resolved):
            await self._call_round(case)

    async def _wait_until(self, case: ledgers.Case, after_s: float, early: Any) -> None:
        """Until ``after_s`` from the raise, or ``early()``, or the alarm is acknowledged or resolved."""
        wake = self._wake.setdefault(case.alarm, asyncio.Event())
        deadline = self._raised_mono.get(case.alarm, time.monotonic()) + after_s
        while not (case.acked or case.resolved or early()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), remaining)

    async def _pause(self, case: ledgers.Case, seconds: float) -> None:
        """``seconds``, or less if the alarm is delivered, acknowledged or resolved meanwhile."""
        wake = self._wake.setdefault(case.alarm, asyncio.Event())
        deadline = time.monotonic() + seconds
        while not (case.delivered or case.acked or case.resolved) and (left := deadline - time.monotonic()) > 0:
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), left)

    def _poke(self, alarm_id: str) -> None:
        wake = self._wake.get(alarm_id)
        if wake is not None:
            wake.set()

    async def _text_alarm(self, case: ledgers.Case, contacts: list[Contact], message: str) -> None:
        s = self.settings
        make = always_sms if message == "always" else alarm_sms
        tz = self.ctx.config().gateway.timezone
        text = make(
            elder=s.elder_name, kind=case.kind, room=case.room, ts_ms=case.raised_ms, timezone=tz,
            lang=s.language, synced=case.synced,
        )  # fmt: skip
        await self._text(case, case.texted, self._audience(case, contacts), text, message)

    async def _tell_resolved(self, case: ledgers.Case, by: str) -> None:
        contacts = [c for c in self.settings.contacts if c.label in case.texted_ok()]
        text = resolved_sms(elder=self.settings.elder_name, kind=case.kind, lang=self.settings.language, by=by)
        await self._text(case, case.resolved_texted, contacts, text, "resolved")

    def _audience(self, case: ledgers.Case, contacts: list[Contact]) -> list[Contact]:
        """In test mode only a technician contact hears about it; otherwise the contacts given."""
        if case.test:
            return [c for c in self.settings.contacts if c.role == "technician"]
        return contacts

    async def _text(
        self, case: ledgers.Case, marks: dict[str, str], contacts: list[Contact], text: str, message: str
    ) -> None:
        """SMS ``text`` to each contact not yet sent to; ``marks`` remembers each (on disk before sending).

        One ``alarm.sms_sent`` per contact, committed right after that SMS, so a reply's acknowledgement always
        comes after it in the platform's sequence."""
        for contact in contacts:
            if marks.get(contact.label) == "sent":
                continue
            if marks.get(contact.label) == "sending":  # with the modem when the gateway stopped: did it leave?
                left = await self._was_sent(contact.number, text)
                if left:
                    marks[contact.label] = "sent"  # never twice
                    continue
                if left is None and self._sending_marks_checked < SENDING_CHECKS:
                    self._sending_marks_checked += 1
                    continue  # the modem cannot tell yet (still starting): ask again on the next round
            if not self._allowed(contact, alarm=message != "resolved"):
                self.stats["sms_skipped"] += 1
                await self._emit_sms(case, contact, message, SmsResult(False, "budget"))
                continue
            before = marks.get(contact.label)
            marks[contact.label] = "sending"
            await self._save()
            outcome = await self._send(contact.number, text)
            marks[contact.label] = "sent" if outcome.ok else f"failed:{outcome.detail}"
            self._count(contact, outcome)
            await self._save()
            if marks[contact.label] != before:  # a retry that fails the same way again is not news
                await self._emit_sms(case, contact, message, outcome)

    async def _emit_sms(self, case: ledgers.Case, contact: Contact, message: str, outcome: SmsResult) -> None:
        data = {"message": message, "contact": contact.label, "role": contact.role}
        await self._emit("alarm.sms_sent", case, {**data, "ok": outcome.ok, "detail": outcome.detail})

    async def _send(self, number: str, text: str) -> SmsResult:
        if self.cellular is None:
            return SmsResult(False, "no_modem")
        blocked = self.cellular.sms_blocked()
        if blocked:
            return SmsResult(False, blocked)
        try:
            return await self.cellular.send_sms(number, text)
        except (OSError, RuntimeError, TimeoutError) as exc:  # a driver bug or a vanished bus: counted, not fatal
            log.error("second path: SMS not sent: %s", exc)
            return SmsResult(False, "send_failed")

    async def _was_sent(self, number: str, text: str) -> bool | None:
        """Whether the modem holds that SMS as sent; None when it cannot tell (no modem, still starting)."""
        if self.cellular is None:
            return None
        try:
            return await self.cellular.was_sent(number, text)
        except (OSError, RuntimeError, TimeoutError):
            return None

    async def _call_round(self, case: ledgers.Case) -> None:
        """The call centre first, then the guardians in order, until one answers or the alarm is acknowledged."""
        contacts = self._audience(
            case,
            [c for c in self.settings.contacts if c.role == "call_centre"]
            + [c for c in self.settings.contacts if c.role == "guardian"],
        )
        for contact in contacts:
            if case.acked or case.resolved:
                return
            result = await self._call(contact.number)
            self.stats["calls"] += 1
            self.stats["calls_answered"] += result.answered
            case.called.append({"contact": contact.label, "answered": result.answered, "detail": result.detail})
            await self._save()
            data = {"contact": contact.label, "role": contact.role, "answered": result.answered}
            await self._emit("alarm.call_placed", case, {**data, "detail": result.detail, "ring_s": result.ring_s})
            if result.answered:
                return

    async def _call(self, number: str) -> CallResult:
        if self.cellular is None:
            return CallResult(False, "no_modem")
        try:
            return await self.cellular.call(number, self.settings.ring_timeout_s)
        except (OSError, RuntimeError, TimeoutError) as exc:
            log.error("second path: call failed: %s", exc)
            return CallResult(False, "failed")

    # ------------------------------------------------------------------ replies

    async def _reply(self, sms: IncomingSms) -> None:
        contact = next((c for c in self.settings.contacts if same_number(c.number, sms.number)), None)
        if contact is None:
            self.stats["replies_unknown"] += 1
            log.info("second path: SMS from a number that is not a contact ignored")
            return
        if not is_ack(sms.text):
            self.stats["replies_other"] += 1
            log.info("second path: SMS from %s is not an acknowledgement; ignored", contact.label)
            return
        told = [
            c for c in self.ledger.cases.values() if contact.label in c.texted_ok() and not c.acked and not c.resolved
        ]
        if not told:
            self.stats["replies_other"] += 1
            log.info("second path: acknowledgement from %s, but no open alarm was sent to them", contact.label)
            return
        case = max(told, key=lambda c: c.raised_ms)
        try:
            await self.alarms.ack(case.alarm, by="sms", note=contact.label)
        except LookupError:
            self.stats["replies_other"] += 1
            log.warning("second path: alarm %s no longer known; reply from %s ignored", case.alarm, contact.label)
            return
        self.stats["replies_ack"] += 1
        log.info("second path: alarm %s acknowledged by SMS from %s", case.alarm, contact.label)

    # ------------------------------------------------------------------ bookkeeping

    def _allowed(self, contact: Contact, *, alarm: bool) -> bool:
        """Alarm SMS always go; other SMS keep to the per-contact hourly rate and the monthly budget."""
        now = self.ctx.clock.wall_ms()
        month = time.strftime("%Y-%m", time.gmtime(now / 1000))
        if month != self.ledger.month:
            self.ledger.month, self.ledger.month_used = month, 0
        recent = [t for t in self.ledger.recent.get(contact.label, []) if now - t < 3_600_000]
        self.ledger.recent[contact.label] = recent
        if alarm:
            return True
        s = self.settings
        return len(recent) < s.sms_per_contact_per_hour and self.ledger.month_used < s.sms_budget_per_month

    def _count(self, contact: Contact, outcome: SmsResult) -> None:
        if outcome.ok:
            self.stats["sms_sent"] += 1
            self.ledger.month_used += 1
            self.ledger.recent.setdefault(contact.label, []).append(self.ctx.clock.wall_ms())
        else:
            self.stats["sms_failed"] += 1
            log.warning("second path: SMS to %s not sent: %s", contact.label, outcome.detail)

    async def _emit(self, kind: str, case: ledgers.Case, data: dict[str, Any]) -> None:
        ref = DeviceRef(case.device, case.device_type, case.room, case.transport) if case.device else None
        body = {"alarm": case.alarm, "kind": case.kind, **data, **({"test": True} if case.test else {})}
        try:
            await self.ctx.emit([EventDraft(kind, Priority.ALERT, ref, body)])
        except ReadingRefused as exc:  # storage refused it (logged by the outbox); the SMS itself went out
            log.error("second path: %s not stored: %s", kind, exc)

    async def _save(self) -> None:
        async with self._save_lock:
            self.ledger.prune()
            try:
                await asyncio.to_thread(ledgers.save, self.path, self.ledger)
            except OSError as exc:  # a read-only card must not stop an SMS: logged, retried with the next change
                log.error("second path: ledger not saved: %s", exc)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"second-path-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("second path: task %s failed", task.get_name(), exc_info=task.exception())
