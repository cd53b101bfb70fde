"""The alarm lifecycle service: connects the alarm book to the outbox, the uplink, the platform and feedback.

The book (:mod:`gateway.rules.alarm_book`, owned by the rule engine) decides; this service only feeds it what
happens outside the rules and turns its answers into events and local feedback:

- committed events give each raised alarm its event id and show "raised" (being sent), or "not_sent" (the
  uplink is down: use the phone);
- delivered rows (the broker's PUBACK) mark an alarm *sent*: ``alarm.sent``, feedback "call_sent";
- ``alarm.sms_sent`` (the second path, committed by the failover service) shows "sms_sent";
- the uplink going down shows "not_sent" while an open alarm has not left the box by any path, else
  "uplink_down" (unless help is already coming), and coming back shows again where the open alarms stand;
- ``alarms/ack`` messages from the platform (and the ``alarm_ack`` command, via :meth:`AlarmService.ack`)
  acknowledge or close an alarm: ``alarm.acknowledged`` / ``alarm.resolved``, feedback "call_received";
- ``alarm.escalated`` (made by the engine's tick) shows "escalated" (no answer yet, still trying; "not_sent"
  again if nothing has left the box); ``alarm.cancel_requested`` says the cancel was asked for (the platform
  closes the alarm, never the gateway); the last resolved alarm "normal".

Every signal carries the alarm's kind, so the prompt fits it (:mod:`gateway.feedback.prompts`).

Listeners run inside the outbox writer and the uplink (through :class:`core.signal.Signal`, which isolates a
failing listener); they count their own failures too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiomqtt
from pydantic import ValidationError

from core import jsonin
from core.events import Event, EventDraft, Priority
from gateway import link
from gateway.alarms.messages import decode_ack
from gateway.logsetup import log_rejected
from gateway.outbox import OutboxError, Row
from gateway.rules.alarm_book import LIFECYCLE_KINDS, AckAction, OpenAlarm, is_test, opens_alarm

if TYPE_CHECKING:
    from core.signal import Unsubscribe
    from gateway.config import Config
    from gateway.context import ServiceContext
    from gateway.ports import FeedbackDisplay

log = logging.getLogger(__name__)

#: Feedback state shown for an open alarm in each lifecycle state (at start, for alarms restored from disk).
_RESTORED_SIGNAL = {"acknowledged": "call_received", "sent": "call_sent"}
#: Committed by the failover service when an alarm went out by SMS (the second path).
SMS_SENT = "alarm.sms_sent"


class AlarmService:
    """The ``alarms`` service; the :class:`gateway.ports.AlarmAcks` port (the ``alarm_ack`` command uses it)."""

    name = "alarms"

    def __init__(self, ctx: ServiceContext, feedback: FeedbackDisplay) -> None:
        self.ctx = ctx
        self.feedback = feedback
        self.engine = ctx.rules
        self.book = ctx.rules.book
        self.stats: dict[str, int] = {"acks": 0, "bad_acks": 0, "unknown_acks": 0, "listener_errors": 0}
        self._started = False
        self._emitting: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Unsubscribe] = []
        #: Event ids of open alarms the second path (SMS) has sent: they have left the box.
        self._by_sms: set[str] = set()

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        self.engine.set_default_timezone(self.ctx.config().gateway.timezone)
        self._unsubscribe = [
            self.ctx.committed.connect(self._committed),
            self.ctx.delivered.connect(self._delivered),
            self.ctx.uplink.state_changed.connect(self._uplink_changed),
        ]
        await link.subscribe(self.ctx.uplink, self.ctx.uplink.topics.alarm_ack, self._on_ack_message)
        self._started = True
        for opened in self.book.open.values():  # alarms still open from before a restart
            self._show(opened)

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._emitting:
            await asyncio.wait(list(self._emitting), timeout=5)
        await self.engine.flush()

    async def reconfigure(self, config: Config) -> None:
        """The rules themselves are reconfigured by the gateway; the zone may come from ``[gateway]``."""
        self.engine.set_default_timezone(config.gateway.timezone)

    # ------------------------------------------------------------------ the platform

    async def ack(
        self, alarm_id: str, by: str = "platform", note: str = "", action: AckAction = "ack"
    ) -> dict[str, Any]:
        """Acknowledge (``action="ack"``) or close (``"close"``) the alarm with event id ``alarm_id``.

        Returns ``{"state": "acknowledged" | "resolved", ...}`` once the lifecycle event is committed.
        Raises LookupError when no open or recently resolved alarm has that id.
        """
        state, drafts = self.book.ack(alarm_id, action, by, note, self.engine.now())
        self.stats["acks"] += 1
        self.engine.persist()
        if drafts:
            await self.ctx.emit(drafts)
        opened = self.book.find(alarm_id)
        return {"state": state, "alarm": opened.event_id if opened else alarm_id}

    async def _on_ack_message(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        raw = bytes(payload) if isinstance(payload, bytes | bytearray) else str(payload or "").encode()
        try:
            msg = decode_ack(raw)
        except jsonin.JsonRejected as exc:
            self.stats["bad_acks"] += 1
            log_rejected(log, "alarms: ack message", exc.reason, exc.detail, raw)
            return
        except ValidationError as exc:
            self.stats["bad_acks"] += 1
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors()[:3])
            log_rejected(log, "alarms: ack message", "invalid", problems, raw)
            return
        try:
            result = await self.ack(msg.alarm, by=msg.by, note=msg.note, action=msg.action)
        except LookupError:
            self.stats["unknown_acks"] += 1
            log.warning("alarms: ack for unknown alarm %s ignored", jsonin.excerpt(msg.alarm, 64))
            return
        log.info("alarms: %s %s by %s -> %s", msg.action, msg.alarm, msg.by, result["state"])

    # ------------------------------------------------------------------ outbox and uplink

    def _committed(self, events: Sequence[Event]) -> None:
        try:
            for event in events:
                self._on_committed(event)
        except Exception:  # runs inside the outbox writer: never let a bug here stop it
            self.stats["listener_errors"] += 1
            log.exception("alarms: committed-event listener failed")

    def _on_committed(self, event: Event) -> None:
        if event.kind == SMS_SENT:
            self._sms_sent(event)
            return
        if opens_alarm(event.kind, event.priority):
            opened = self.book.bind(event)
            if opened is not None:
                self.engine.persist()
                if is_test(opened):  # a technician's test: stored and sent, nobody is called out
                    self._signal("test_received", opened)
                else:
                    self._signal("raised" if self.ctx.uplink.connected else "not_sent", opened)
            return
        if event.kind not in LIFECYCLE_KINDS:
            return
        if event.data.get("test") is True:  # the lifecycle of a test alarm: the elder was told "test received"
            if event.kind == "alarm.resolved" and not self._real_open():
                self._signal("normal", device_id=None)
            return
        opened = self.book.bind(event) if event.kind == "alarm.escalated" else None
        device_id = event.device.id if event.device else None
        kind = str(event.data.get("kind") or "") or None
        if event.kind == "alarm.acknowledged":
            self._signal("call_received", device_id=device_id, kind=kind)
        elif event.kind == "alarm.escalated":
            about = opened or self.book.find(str(event.data.get("alarm")))
            gone = about is None or about.sent or bool(about.ids() & self._by_sms)
            self._signal(
                "escalated" if gone or self.ctx.uplink.connected else "not_sent", device_id=device_id, kind=kind
            )
        elif event.kind == "alarm.cancel_requested":
            self._signal("cancelled", device_id=device_id, kind=kind)
        elif event.kind == "alarm.resolved":
            self._by_sms.discard(str(event.data.get("alarm")))
            if not self._real_open():
                self._by_sms.clear()
                self._signal("normal", device_id=None)
        if opened is not None:
            self.engine.persist()

    def _sms_sent(self, event: Event) -> None:
        """The second path sent an alarm by SMS: say so, unless the platform already answered. A failed SMS
        (``ok`` false: no modem, budget) or the "resolved" notice says nothing."""
        if event.data.get("ok") is not True or event.data.get("message") == "resolved":
            return
        alarm_id = str(event.data.get("alarm") or "")
        opened = self.book.find(alarm_id) if alarm_id else None
        if opened is None or opened.acked:
            return
        self._by_sms.update(opened.ids())
        if not opened.sent:  # "delivered" through the broker says more than "sent by SMS"
            self._signal("sms_sent", opened)

    def _delivered(self, rows: Sequence[Row]) -> None:
        try:
            for row in rows:
                if row.prio != Priority.ALARM:
                    continue
                body = json.loads(row.body)
                device = body.get("device") or {}
                opened = self.book.delivered(str(body.get("id")), str(body.get("kind", "")), device.get("id"))
                if opened is not None:
                    self.engine.persist()
                    if not is_test(opened):
                        self._signal("call_sent", opened)
                    self._emit_soon([self.book.sent_draft(opened, self.engine.now())])
        except Exception:  # runs inside the uplink: a bug here must not drop the connection
            self.stats["listener_errors"] += 1
            log.exception("alarms: delivered-row listener failed")

    def _emit_soon(self, drafts: list[EventDraft]) -> None:
        """Commit lifecycle drafts from a synchronous listener (the uplink's PUBACK callback)."""
        task = asyncio.get_running_loop().create_task(self._emit(drafts), name="alarms-emit")
        self._emitting.add(task)
        task.add_done_callback(self._emitting.discard)

    async def _emit(self, drafts: list[EventDraft]) -> None:
        try:
            await self.ctx.emit(drafts)
        except OutboxError as exc:  # storage refused it (logged by the outbox): the alarm itself is delivered
            log.error("alarms: %s not stored: %s", ", ".join(d.kind for d in drafts), exc)

    def _uplink_changed(self, online: bool) -> None:
        shown = self.feedback.current
        if not online:
            if shown == "call_received":  # help already on its way stays shown: that has not changed
                return
            stuck = self._unsent()
            if stuck is not None:
                self._signal("not_sent", stuck)  # nothing has left the box: the elder must use the phone
            elif shown not in ("sms_sent", "not_sent"):
                self._signal("uplink_down")
        elif shown in ("uplink_down", "not_sent", "sms_sent"):
            state, opened = self._standing()
            if state != shown:
                self._signal(state, opened)

    def _real_open(self) -> list[OpenAlarm]:
        """Open alarms that are not installation tests."""
        return [a for a in self.book.open.values() if not is_test(a)]

    def _unsent(self) -> OpenAlarm | None:
        """The newest open alarm that has left the box by no path yet (None if there is none)."""
        waiting = [a for a in self._real_open() if not a.sent and not a.acked and not (a.ids() & self._by_sms)]
        return max(waiting, key=lambda a: a.raised_mono, default=None)

    def _standing(self) -> tuple[str, OpenAlarm | None]:
        """The feedback state that says where the open alarms stand ("normal" when none is open), and the
        alarm it is about."""
        opened = sorted(self._real_open(), key=lambda a: a.raised_mono, reverse=True)
        gone = [a for a in opened if a.sent or a.ids() & self._by_sms]  # left the box by some path
        escalated = [a for a in gone if a.escalations and not a.acked]
        if escalated:
            return "escalated", escalated[0]
        if opened and all(a.acked for a in opened):
            return "call_received", opened[0]
        sent = [a for a in opened if a.sent]
        if sent:
            return "call_sent", sent[0]
        if opened:  # only unsent alarms: their PUBACK signals "call_sent" in a moment
            return "raised", opened[0]
        return "normal", None

    # ------------------------------------------------------------------ feedback

    def _show(self, opened: OpenAlarm) -> None:
        if is_test(opened):
            return
        state = "escalated" if opened.escalations and not opened.acked else _RESTORED_SIGNAL.get(opened.state())
        if state:
            self._signal(state, opened)

    def _signal(
        self, state: str, opened: OpenAlarm | None = None, *, device_id: str | None = None, kind: str | None = None
    ) -> None:
        if opened is not None:
            kind = opened.kind
            if opened.device is not None:
                device_id = opened.device.id
        try:
            self.feedback.signal(state, device_id=device_id, kind=kind)
        except Exception:  # feedback is someone else's module: its failure must not touch the lifecycle
            self.stats["listener_errors"] += 1
            log.exception("alarms: feedback signal %s failed", state)

    def status(self) -> dict[str, Any]:
        """For pages and the heartbeat."""
        return {**self.engine.status(), "lifecycle": dict(self.stats)}
