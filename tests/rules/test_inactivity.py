"""Inactivity through its edges: threshold, day windows, midnight, going out, unsynchronised clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules.support import FakeClock, Harness, kinds, local_ms, only, settings

MINE = ("alarm.inactivity", "alarm.resolved", "state.presence", "core.clock")

pytestmark = pytest.mark.timeout(20)

HOUR = 3600


def harness(tmp_path: Path, clock: FakeClock, **inactivity: object) -> Harness:
    cfg = {"after_s": 2 * HOUR, "day_windows": ["06:00-12:00", "13:00-21:00"], **inactivity}
    return Harness(tmp_path, settings(inactivity=cfg), clock)


def test_not_armed_without_any_activity_sensor(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(6)))
    assert h.run(5 * HOUR, step=60) == []


def test_threshold_edges(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(8)))
    h.read("pir-1", "motion", True)
    assert h.run(2 * HOUR - 1) == []  # one second short
    alarm = h.run(1)
    assert kinds(alarm) == ["alarm.inactivity"]
    assert alarm[0].device is None and alarm[0].data["last_activity"] == {"device": "pir-1", "capability": "motion"}
    assert h.run(HOUR, step=60) == []  # an open alarm is not raised again
    cleared = h.read("pir-1", "motion", True)
    assert only(cleared, *MINE) == ["alarm.inactivity.cleared", "alarm.resolved"]
    assert h.run(3 * HOUR - 1) == []  # re-armed: counts again from zero (11:00-12:00, lunch, 13:00-14:00)
    assert kinds(h.run(1)) == ["alarm.inactivity"]


def test_activity_resets_the_count(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(8)))
    h.read("pir-1", "motion", True)
    h.run(HOUR + 1800)
    h.read("door-1", "contact", "open")  # a door change is activity
    h.run(HOUR + 1800)
    h.read("bed-1", "in_bed", False)  # so is a bed change
    assert h.run(2 * HOUR - 1) == []


def test_repeated_same_state_is_not_activity(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(8)), away_after_s=0)
    h.read("door-1", "contact", "closed")
    h.run(HOUR)
    h.read("door-1", "contact", "closed")  # a periodic re-report, nobody moved
    h.read("pir-1", "motion", False)  # not motion
    assert kinds(h.run(HOUR)) == ["alarm.inactivity"]


def test_only_time_inside_day_windows_counts(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(11)))
    h.read("pir-1", "motion", True)
    assert h.run(HOUR) == []  # 11:00-12:00 counts (1 h)
    assert h.run(HOUR) == []  # 12:00-13:00 lunch break does not
    assert h.run(HOUR - 1) == []  # 13:00-13:59:59: 1 h 59 min 59 s so far
    assert kinds(h.run(1)) == ["alarm.inactivity"]  # 14:00


def test_night_is_outside_the_windows_and_midnight_is_crossed(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(20)))
    h.read("bed-1", "in_bed", True)
    assert h.run(HOUR) == []  # 20:00-21:00 counts: 1 h
    assert h.run(9 * HOUR, step=60) == []  # 21:00 -> 06:00, across midnight: nothing counts
    assert h.run(HOUR - 1) == []  # 06:00-06:59:59
    assert kinds(h.run(1)) == ["alarm.inactivity"]


def test_window_boundary_starts_counting(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(5, 0)))
    h.read("pir-1", "motion", True)
    assert h.run(HOUR) == []  # 05:00-06:00 is outside
    assert h.run(2 * HOUR - 1) == []
    assert kinds(h.run(1)) == ["alarm.inactivity"]  # 08:00


def test_suspended_while_out(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(6)), away_after_s=600)
    h.read("door-1", "contact", "open")
    h.read("door-1", "contact", "closed")
    assert h.run(599) == []
    out = h.run(1)
    assert kinds(out) == ["state.presence"] and out[0].data["present"] is False
    assert h.run(2 * HOUR, step=60) == []  # out: no alarm however long
    back = [d for d in h.read("pir-1", "motion", True) if d.kind == "state.presence"]
    assert len(back) == 1 and back[0].data["present"] is True
    assert h.run(2 * HOUR - 1) == []
    assert kinds(h.run(1)) == ["alarm.inactivity"]


def test_door_then_motion_is_not_out(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(8)), away_after_s=600)
    h.read("door-1", "contact", "open")
    h.read("pir-1", "motion", True)  # still home
    assert only(h.run(2 * HOUR), *MINE) == ["alarm.inactivity"]


def test_away_detection_can_be_turned_off(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(8)), away_after_s=0)
    h.read("door-1", "contact", "open")
    h.read("door-1", "contact", "closed")
    assert kinds(h.run(2 * HOUR)) == ["alarm.inactivity"]


def test_unsynchronised_clock_sets_windows_aside_and_warns_once(tmp_path: Path) -> None:
    """Without network time the windows are unknown: the rule still works, around the clock."""
    clock = FakeClock(local_ms(22), synced=False)  # 22:00 is outside every day window
    h = harness(tmp_path, clock)
    h.read("pir-1", "motion", True)
    out = h.run(2 * HOUR - 60, step=60)
    assert kinds(out) == ["gateway.clock_unsynced"]  # once
    alarm = h.run(60, step=60)
    assert kinds(alarm) == ["alarm.inactivity"]
    assert alarm[0].data["clock_synced"] is False and alarm[0].data["day_windows"] == []
    h.read("pir-1", "motion", True)
    clock.is_synced = True  # synced at 00:00: outside the windows again, so nothing counts until 06:00
    assert kinds(h.run(6 * HOUR, step=60)) == ["gateway.clock_synced"]
    assert kinds(h.run(2 * HOUR, step=60)) == ["alarm.inactivity"]


def test_unsynchronised_clock_does_not_count_the_night_in_bed(tmp_path: Path) -> None:
    clock = FakeClock(local_ms(22), synced=False)
    h = harness(tmp_path, clock)
    h.read("bed-1", "in_bed", True)  # gone to bed: asleep, not lying on the floor
    assert kinds(h.run(8 * HOUR, step=60)) == ["gateway.clock_unsynced"]
    h.read("bed-1", "in_bed", False)  # up; then nothing moves
    assert kinds(h.run(2 * HOUR, step=60)) == ["alarm.inactivity"]


def test_disabled(tmp_path: Path) -> None:
    h = harness(tmp_path, FakeClock(local_ms(8)), enabled=False)
    h.read("pir-1", "motion", True)
    assert h.run(5 * HOUR, step=60) == []


def test_restart_keeps_the_count_and_an_open_alarm(tmp_path: Path) -> None:
    clock = FakeClock(local_ms(8))
    h = harness(tmp_path, clock)
    h.read("pir-1", "motion", True)
    h.run(HOUR)
    h2 = h.restarted()
    assert h2.run(HOUR - 1) == []
    assert kinds(h2.run(1)) == ["alarm.inactivity"]
    h3 = h2.restarted()
    assert h3.run(HOUR, step=60) == []  # still open after the restart: not raised again
    assert only(h3.read("pir-1", "motion", True), *MINE) == ["alarm.inactivity.cleared", "alarm.resolved"]
