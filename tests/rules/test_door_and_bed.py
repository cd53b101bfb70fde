"""Door left open, door opened at night, bed exit at night: thresholds, night edges, midnight, no sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules.support import FakeClock, Harness, kinds, local_ms, only, settings

pytestmark = pytest.mark.timeout(20)

DOOR = ("alarm.door", "alert.door", "alarm.resolved")
BED = ("alarm.bed_exit", "alarm.resolved")


def door(tmp_path: Path, clock: FakeClock, **cfg: object) -> Harness:
    return Harness(tmp_path, settings(door={"open_max_s": 600, **cfg}, inactivity={"enabled": False}), clock)


def test_door_left_open_edges_and_rearm(tmp_path: Path) -> None:
    h = door(tmp_path, FakeClock(local_ms(10)))
    h.read("door-1", "contact", "open")
    assert h.run(599) == []
    out = h.run(1)
    assert kinds(out) == ["alarm.door_left_open"] and out[0].device and out[0].device.id == "door-1"
    assert out[0].data["open_s"] == 600.0
    h.read("door-1", "contact", "open")  # a repeated report: no new alarm, timer not restarted
    assert h.run(1200) == []
    assert only(h.read("door-1", "contact", "closed"), *DOOR) == ["alarm.door_left_open.cleared", "alarm.resolved"]
    h.read("door-1", "contact", "open")
    assert h.run(599) == []
    assert kinds(h.run(1)) == ["alarm.door_left_open"]  # re-armed


def test_door_closed_in_time(tmp_path: Path) -> None:
    h = door(tmp_path, FakeClock(local_ms(10)))
    h.read("door-1", "contact", "open")
    h.run(599)
    assert only(h.read("door-1", "contact", "closed"), *DOOR) == []
    assert h.run(1200) == []


def test_door_left_open_off(tmp_path: Path) -> None:
    h = door(tmp_path, FakeClock(local_ms(10)), open_max_s=0)
    h.read("door-1", "contact", "open")
    assert h.run(7200, step=60) == []


@pytest.mark.parametrize(
    ("hh", "mm", "alert"),
    [(21, 59, False), (22, 0, True), (23, 59, True), (0, 0, True), (5, 59, True), (6, 0, False), (12, 0, False)],
)
def test_door_opened_at_night_edges(tmp_path: Path, hh: int, mm: int, alert: bool) -> None:
    h = door(tmp_path, FakeClock(local_ms(hh, mm)), night_alert=True)
    out = only(h.read("door-1", "contact", "open"), *DOOR)
    assert out == (["alert.door_opened_at_night"] if alert else [])


def test_door_at_night_only_where_configured_and_only_with_sync(tmp_path: Path) -> None:
    assert only(door(tmp_path / "a", FakeClock(local_ms(23))).read("door-1", "contact", "open"), *DOOR) == []
    unsynced = door(tmp_path / "b", FakeClock(local_ms(23), synced=False), night_alert=True)
    assert only(unsynced.read("door-1", "contact", "open"), *DOOR) == []
    assert kinds(unsynced.run(600)) == ["gateway.clock_unsynced", "alarm.door_left_open"]  # durations still work


def bed(tmp_path: Path, clock: FakeClock, **cfg: object) -> Harness:
    rules = settings(bed_exit={"return_within_s": 900, **cfg}, inactivity={"enabled": False})
    return Harness(tmp_path, rules, clock)


def test_bed_exit_edges_and_rearm(tmp_path: Path) -> None:
    h = bed(tmp_path, FakeClock(local_ms(23, 50)))
    h.read("bed-1", "in_bed", True)
    h.read("bed-1", "in_bed", False)
    assert h.run(899) == []  # across midnight: 23:50 -> 00:04:59
    out = h.run(1)
    assert kinds(out) == ["alarm.bed_exit"] and out[0].data["out_s"] == 900.0
    assert h.run(1800, step=10) == []
    assert only(h.read("bed-1", "in_bed", True), *BED) == ["alarm.bed_exit.cleared", "alarm.resolved"]
    h.read("bed-1", "in_bed", False)
    assert h.run(899) == []
    assert kinds(h.run(1)) == ["alarm.bed_exit"]


def test_back_in_time_is_no_alarm(tmp_path: Path) -> None:
    h = bed(tmp_path, FakeClock(local_ms(2)))
    h.read("bed-1", "in_bed", False)
    h.run(899)
    assert only(h.read("bed-1", "in_bed", True), *BED) == []
    assert h.run(1800) == []


@pytest.mark.parametrize(("hh", "mm", "timed"), [(21, 59, False), (22, 0, True), (5, 59, True), (6, 0, False)])
def test_bed_exit_only_starts_inside_the_night(tmp_path: Path, hh: int, mm: int, timed: bool) -> None:
    h = bed(tmp_path, FakeClock(local_ms(hh, mm)))
    h.read("bed-1", "in_bed", True)
    h.read("bed-1", "in_bed", False)
    assert kinds(h.run(900)) == (["alarm.bed_exit"] if timed else [])


def test_bed_exit_without_sync_starts_nothing(tmp_path: Path) -> None:
    h = bed(tmp_path, FakeClock(local_ms(2), synced=False))
    h.read("bed-1", "in_bed", False)
    assert kinds(h.run(1800)) == ["gateway.clock_unsynced"]


def test_a_running_bed_timer_survives_loss_of_sync_and_restart(tmp_path: Path) -> None:
    clock = FakeClock(local_ms(3))
    h = bed(tmp_path, clock)
    h.read("bed-1", "in_bed", False)
    h.run(400)
    clock.is_synced = False
    h2 = h.restarted()
    assert kinds(h2.run(499)) == ["gateway.clock_unsynced"]
    assert kinds(h2.run(1)) == ["alarm.bed_exit"]


def test_reboot_restarts_timers_from_now(tmp_path: Path) -> None:
    clock = FakeClock(local_ms(3))
    h = bed(tmp_path, clock)
    h.read("bed-1", "in_bed", False)
    h.run(800)
    rebooted = FakeClock(local_ms(3, 14), boot="boot-2")
    rebooted.mono = 5_000  # a new boot: the monotonic clock started again
    h2 = h.restarted(rebooted)
    assert h2.run(899) == []  # the time before the reboot is not trusted: late rather than early
    assert kinds(h2.run(1)) == ["alarm.bed_exit"]


def test_bed_exit_disabled(tmp_path: Path) -> None:
    h = bed(tmp_path, FakeClock(local_ms(2)), enabled=False)
    h.read("bed-1", "in_bed", False)
    assert h.run(3600, step=10) == []
