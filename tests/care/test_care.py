"""Care routines on a fake clock (Asia/Shanghai): reminders, check-in, visits and the daily summary, across
midnight and across a restart in the middle of a routine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from core.devices import Device
from drivers.base import Reading
from gateway.care.service import CareService
from gateway.config import parse_config
from gateway.remote.desired import DesiredDocument, effective_config
from tests.rules.support import local_ms
from tests.support.context import FakeCore, fake_context

pytestmark = pytest.mark.timeout(30)

CARE_BTN = Device("care-btn", "care_button", "sim", name="Care button", room="bedroom", capabilities=["checkin"])
PILLBOX = Device("pillbox", "door", "sim", name="Pill box", room="kitchen", capabilities=["contact"])
BADGE = Device("badge-1", "badge", "ble", name="Badge", capabilities=["beacon"])
PIR = Device("pir", "motion", "sim", name="PIR", room="living", capabilities=["motion"])
BED = Device("bed", "mattress", "sim", name="Bed", room="bedroom", capabilities=["in_bed"])
CALL = Device("btn-1", "call_button", "sim", name="Cord", room="bathroom", capabilities=["press"])

CARE = {
    "care_buttons": ["care-btn"],
    "badges": {"badge-1": "Wang Fang"},
    "visit_gone_s": 600,
    "summary_at": "21:00",
    "reminders": [
        {"name": "morning pills", "at": "08:00", "ack_within_min": 30, "ack_devices": ["pillbox"]},
        {"name": "night pills", "at": "23:50", "ack_within_min": 30},
    ],
    "checkin": {"start": "07:00", "end": "10:00"},
}


class FakeFeedback:
    def __init__(self) -> None:
        self.current = "normal"
        self.shown: list[str] = []

    def signal(self, state: str, *, device_id: str | None = None, kind: str | None = None) -> None:
        self.current = state
        self.shown.append(state)


def make(
    tmp_path: Path, start_ms: int, care: dict[str, Any] | None = None
) -> tuple[FakeCore, CareService, FakeFeedback]:
    raw = {"gateway": {"id": "gw-test", "state_dir": str(tmp_path)}, "care": care or CARE}
    core = fake_context(tmp_path, parse_config(raw))
    core.clock.wall = start_ms
    feedback = FakeFeedback()
    return core, CareService(core.ctx, feedback), feedback


async def at(core: FakeCore, service: CareService, ms: int) -> None:
    """Move the fake clock to ``ms`` a minute at a time, ticking as the service would."""
    while core.clock.wall < ms:
        core.clock.advance(min(60, (ms - core.clock.wall) / 1000))
        await service.tick()
    await asyncio.sleep(0.01)


async def read(core: FakeCore, device: Device, capability: str, value: Any) -> None:
    await core.ctx.emit(core.rules.on_reading(Reading(device.id, capability, value), device))
    await asyncio.sleep(0.02)


def care(core: FakeCore) -> list[str]:
    return [k for k in core.kinds() if k.startswith("care.")]


async def test_reminder_taken_checkin_and_missed(tmp_path: Path) -> None:
    core, service, feedback = make(tmp_path, local_ms(6, 0))
    await service.start()
    try:
        await at(core, service, local_ms(8, 0))
        assert care(core) == ["care.reminder_due"] and feedback.current == "reminder"
        assert core.emitted[-1].data == {"name": "morning pills", "date": "2025-06-02", "at": "08:00"}
        await at(core, service, local_ms(8, 12))
        await read(core, PILLBOX, "contact", "open")  # the pill box opened: taken
        taken = next(e for e in core.emitted if e.kind == "care.reminder_taken")
        assert taken.data["after_s"] == 720 and taken.data["by"] == "pillbox" and taken.data["how"] == "opened"
        assert feedback.current == "normal"
        await read(core, CARE_BTN, "checkin", True)  # 08:12, inside 07:00-10:00
        assert care(core)[-1] == "care.checkin" and feedback.current == "checkin_received"
        await at(core, service, local_ms(10, 30))
        assert "care.checkin_missed" not in care(core)

        await at(core, service, local_ms(8, 0, day=3))  # the next day: nobody opens the pill box
        await at(core, service, local_ms(8, 31, day=3))
        missed = next(e for e in core.emitted if e.kind == "care.reminder_missed")
        assert missed.priority.name == "ALERT" and missed.data["reason"] == "no_ack"
        await at(core, service, local_ms(10, 1, day=3))
        checkin_missed = [e for e in core.emitted if e.kind == "care.checkin_missed"]
        assert [e.data["date"] for e in checkin_missed] == ["2025-06-03"]
    finally:
        await service.stop()


async def test_reminder_across_midnight_and_restart_in_the_middle(tmp_path: Path) -> None:
    core, service, feedback = make(tmp_path, local_ms(23, 0))
    await service.start()
    await at(core, service, local_ms(23, 50))
    assert care(core) == ["care.reminder_due"] and core.emitted[-1].data["name"] == "night pills"
    await at(core, service, local_ms(23, 59))
    await service.stop()  # the gateway restarts in the middle of the routine

    restarted = CareService(core.ctx, feedback)
    await restarted.start()
    try:
        assert restarted.book.due_now() == ["night pills"]  # still waiting for its press, after the restart
        await at(core, service=restarted, ms=local_ms(0, 10, day=3))
        await read(core, CARE_BTN, "checkin", True)  # 00:10 the next day: taken, for the 2nd's reminder
        taken = next(e for e in core.emitted if e.kind == "care.reminder_taken")
        assert taken.data["date"] == "2025-06-02" and taken.data["after_s"] == 20 * 60
        assert "care.checkin" not in care(core)  # 00:10 is outside the check-in hours
        await at(core, service=restarted, ms=local_ms(0, 30, day=3))
        assert "care.reminder_missed" not in care(core)
    finally:
        await restarted.stop()


async def test_down_through_the_whole_window_is_reported_not_shown(tmp_path: Path) -> None:
    core, service, _ = make(tmp_path, local_ms(7, 0))
    await service.start()
    await service.stop()
    core.clock.wall = local_ms(9, 0)  # off from 07:00 to 09:00: the 08:00 reminder was never given
    again = CareService(core.ctx, FakeFeedback())
    await again.start()
    try:
        missed = [e for e in core.emitted if e.kind == "care.reminder_missed"]
        assert [e.data["reason"] for e in missed] == ["not_shown"]
    finally:
        await again.stop()


async def test_first_start_reports_nothing_from_before_it(tmp_path: Path) -> None:
    core, service, _ = make(tmp_path, local_ms(22, 0))  # installed at 22:00: no missed morning pills
    await service.start()
    try:
        assert care(core) == []
    finally:
        await service.stop()


async def test_visits_by_badge_and_by_button_sequence(tmp_path: Path) -> None:
    core, service, _ = make(tmp_path, local_ms(14, 0))
    await service.start()
    try:
        for minute in range(0, 31, 5):  # the badge advertises while the caregiver is in the home
            await at(core, service, local_ms(14, minute))
            await read(core, BADGE, "beacon", True)
        await at(core, service, local_ms(14, 39))
        assert care(core) == ["care.visit_started"]
        await at(core, service, local_ms(14, 41))  # not seen for 10 minutes: the visit ended when last seen
        ended = next(e for e in core.emitted if e.kind == "care.visit_ended")
        assert ended.data["caregiver"] == "Wang Fang" and ended.data["duration_s"] == 30 * 60
        assert ended.data["how"] == "badge" and ended.data["reason"] == "badge_gone"

        for _ in range(3):  # a caregiver without a badge: three presses of the care button
            await read(core, CARE_BTN, "checkin", True)
        await at(core, service, local_ms(15, 15))
        for _ in range(3):
            await read(core, CARE_BTN, "checkin", True)
        visits = [e for e in core.emitted if e.kind.startswith("care.visit")]
        assert [e.kind for e in visits][-2:] == ["care.visit_started", "care.visit_ended"]
        assert visits[-1].data["how"] == "button" and visits[-1].data["duration_s"] == 34 * 60
    finally:
        await service.stop()


async def test_daily_summary_counts_the_day(tmp_path: Path) -> None:
    core, service, _ = make(tmp_path, local_ms(19, 0))
    await service.start()
    try:
        await read(core, PIR, "motion", True)
        await read(core, PIR, "motion", True)
        await read(core, PILLBOX, "contact", "open")
        await read(core, BED, "in_bed", True)  # 19:00 in bed...
        await at(core, service, local_ms(20, 0))
        await read(core, BED, "in_bed", False)  # ...until 20:00
        await read(core, CALL, "press", True)
        await at(core, service, local_ms(21, 0))
        summary = next(e for e in core.emitted if e.kind == "care.activity_summary")
        d = summary.data
        assert d["motion_by_hour"][19] == 2 and sum(d["motion_by_hour"]) == 2
        assert (d["door_openings"], d["in_bed_s"], d["alarms"], d["late"]) == (1, 3600, 1, False)
        await at(core, service, local_ms(21, 0, day=3))
        second = [e for e in core.emitted if e.kind == "care.activity_summary"][1]
        assert second.data["date"] == "2025-06-03" and second.data["alarms"] == 0  # counts start afresh
    finally:
        await service.stop()


def test_care_schedule_is_pushable_and_checked(tmp_path: Path) -> None:
    local = parse_config({"gateway": {"id": "gw", "state_dir": str(tmp_path)}})
    doc = DesiredDocument.model_validate({"version": 2, "care": CARE})
    eff = effective_config(local, doc, tmp_path)
    assert [r.name for r in eff.care.reminders] == ["morning pills", "night pills"]
    with pytest.raises(ValueError):
        DesiredDocument.model_validate({"version": 3, "care": {"reminders": [{"name": "x", "at": "25:00"}]}})
    with pytest.raises(ValueError):
        parse_config(
            {
                "gateway": {"id": "gw", "state_dir": str(tmp_path)},
                "care": {"checkin": {"start": "10:00", "end": "07:00"}},
            }
        )


async def test_reminder_while_the_network_is_down_then_its_light_comes_back(tmp_path: Path) -> None:
    core, service, feedback = make(tmp_path, local_ms(7, 59))
    feedback.current = "uplink_down"
    await service.start()
    try:
        await at(core, service, local_ms(8, 0))
        assert feedback.current == "reminder"  # said even offline: it is local
        await read(core, PILLBOX, "contact", "open")
        assert feedback.current == "uplink_down"  # and the network-down light is back
        feedback.current = "call_sent"  # an alarm is shown: a reminder never replaces it
        await at(core, service, local_ms(23, 50))
        assert feedback.current == "call_sent" and service.book.due_now() == ["night pills"]
    finally:
        await service.stop()
