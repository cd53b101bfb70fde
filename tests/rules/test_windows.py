"""Day/night windows: parsing, boundaries, midnight, the whole day, unknown time."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from gateway.rules.settings import RulesSettings
from gateway.rules.windows import Now, Window, inside_ms, zone
from tests.rules.support import SHANGHAI, FakeClock, local_ms

pytestmark = pytest.mark.timeout(10)


def at(hh: int, mm: int) -> datetime:
    return datetime(2025, 6, 2, hh, mm, tzinfo=SHANGHAI)


def test_day_window_edges() -> None:
    w = Window.parse("06:00-12:00")
    assert not w.contains(at(5, 59))
    assert w.contains(at(6, 0))
    assert w.contains(at(11, 59))
    assert not w.contains(at(12, 0))  # the end is exclusive


def test_night_window_wraps_midnight() -> None:
    w = Window.parse("22:00-06:00")
    assert not w.contains(at(21, 59))
    assert w.contains(at(22, 0))
    assert w.contains(at(23, 59))
    assert w.contains(at(0, 0))
    assert w.contains(at(5, 59))
    assert not w.contains(at(6, 0))
    assert not w.contains(at(12, 0))


def test_whole_day_and_24_00() -> None:
    w = Window.parse("00:00-24:00")
    assert all(w.contains(at(h, m)) for h in range(24) for m in (0, 59))
    assert str(Window.parse("18:30-24:00")) == "18:30-24:00"
    assert Window.parse("18:30-24:00").contains(at(23, 59))


def test_unknown_time_is_never_inside() -> None:
    assert not Window.parse("00:00-24:00").contains(None)


@pytest.mark.parametrize("bad", ["6:00-12:00", "06:00-06:00", "25:00-06:00", "06:60-07:00", "24:00-06:00", "x", ""])
def test_bad_windows_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Window.parse(bad)
    with pytest.raises(ValidationError):
        RulesSettings.model_validate({"night_window": bad})


def test_now_has_local_time_only_when_synced() -> None:
    clock = FakeClock(local_ms(23, 30))
    now = Now.of(clock, zone("Asia/Shanghai"))
    assert now.local is not None and (now.local.hour, now.local.minute) == (23, 30)
    clock.is_synced = False
    assert Now.of(clock, zone(None)).local is None


def test_zone_is_dst_free_and_unknown_zones_are_refused() -> None:
    tz = zone(None)  # default: Asia/Shanghai, UTC+8 all year
    assert datetime(2025, 1, 15, tzinfo=tz).utcoffset() == datetime(2025, 7, 15, tzinfo=tz).utcoffset()
    with pytest.raises(ValueError):
        zone("Mars/Olympus")
    with pytest.raises(ValidationError):
        RulesSettings.model_validate({"timezone": "Mars/Olympus"})


def test_inside_ms_is_exact_across_edges_and_midnight() -> None:
    day = (Window.parse("06:00-12:00"),)
    assert inside_ms(day, at(6, 1), 120_000) == 60_000  # 05:59-06:01: one minute inside
    assert inside_ms(day, at(12, 1), 120_000) == 60_000  # 11:59-12:01
    assert inside_ms(day, at(6, 0), 60_000) == 0  # 05:59-06:00 ends where the window starts
    night = (Window.parse("22:00-06:00"),)
    assert inside_ms(night, at(0, 30), 3_600_000) == 3_600_000  # 23:30-00:30 across midnight
    assert inside_ms(night, at(7, 0), 9 * 3_600_000) == 8 * 3_600_000  # 22:00-07:00: 8 h of night
    assert inside_ms(day, None, 60_000) == 0
    assert inside_ms(day, at(8, 0), 0) == 0
