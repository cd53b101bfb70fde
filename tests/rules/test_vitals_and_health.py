"""Vital signs (range for N seconds while in bed, no breathing) and device health (offline, silent, battery)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.devices import Device
from gateway.rules.settings import RulesSettings
from tests.rules.support import DEVICES, FakeClock, Harness, kinds, local_ms, only, settings

pytestmark = pytest.mark.timeout(20)

VITALS = ("alarm.heart", "alarm.breath", "alarm.no_breathing", "alarm.resolved")


def vitals(tmp_path: Path, **cfg: object) -> Harness:
    rules = settings(vitals={"for_s": 30, "no_breath_s": 20, **cfg}, inactivity={"enabled": False})
    return Harness(tmp_path, rules, FakeClock(local_ms(2)))


def feed(h: Harness, capability: str, value: float, seconds: int, every: int = 5) -> list[str]:
    """Report ``value`` every ``every`` s for ``seconds`` s (first report now); the vitals kinds made."""
    out: list[str] = []
    for i in range(0, seconds + 1, every):
        if i:
            h.clock.advance(every)
        out += only(h.read("bed-1", capability, value), *VITALS)
    return out


def test_heart_rate_out_of_range_edges(tmp_path: Path) -> None:
    h = vitals(tmp_path)
    assert feed(h, "heart_rate", 130, 29, every=1) == []  # 29 s of a run: not yet
    h.clock.advance(1)
    assert only(h.read("bed-1", "heart_rate", 135), *VITALS) == ["alarm.heart_rate_abnormal"]
    assert feed(h, "heart_rate", 140, 60) == []  # open: not again
    assert only(h.read("bed-1", "heart_rate", 70), *VITALS) == ["alarm.heart_rate_abnormal.cleared", "alarm.resolved"]


def test_range_bounds_are_inclusive_and_a_good_reading_breaks_the_run(tmp_path: Path) -> None:
    h = vitals(tmp_path)
    assert feed(h, "heart_rate", 120, 60) == []  # the max itself is fine
    assert feed(h, "heart_rate", 40, 60) == []  # and the min
    assert feed(h, "heart_rate", 30, 25) == []
    h.clock.advance(5)
    h.read("bed-1", "heart_rate", 60)  # breaks the run
    assert feed(h, "heart_rate", 30, 25) == []
    assert feed(h, "breath_rate", 35, 25) == []
    h.clock.advance(5)
    assert only(h.read("bed-1", "breath_rate", 36), *VITALS) == ["alarm.breath_rate_abnormal"]


def test_no_breathing(tmp_path: Path) -> None:
    h = vitals(tmp_path)
    assert feed(h, "breath_rate", 0, 15) == []
    h.clock.advance(5)
    assert only(h.read("bed-1", "breath_rate", 0), *VITALS) == ["alarm.no_breathing"]  # 20 s
    assert only(h.read("bed-1", "breath_rate", 14), *VITALS) == ["alarm.no_breathing.cleared", "alarm.resolved"]


def test_only_while_in_bed(tmp_path: Path) -> None:
    h = vitals(tmp_path)
    h.read("bed-1", "in_bed", False)
    assert feed(h, "heart_rate", 200, 120) == []
    assert feed(h, "breath_rate", 0, 120) == []
    h.read("bed-1", "in_bed", True)
    assert feed(h, "heart_rate", 200, 30) == ["alarm.heart_rate_abnormal"]
    out = only(h.read("bed-1", "in_bed", False), *VITALS)  # getting up clears it
    assert out == ["alarm.heart_rate_abnormal.cleared", "alarm.resolved"]


def test_vitals_disabled_and_settings_checked(tmp_path: Path) -> None:
    h = vitals(tmp_path, enabled=False)
    assert feed(h, "heart_rate", 250, 300) == []
    with pytest.raises(ValidationError):
        RulesSettings.model_validate({"vitals": {"heart_min": 120, "heart_max": 100}})


def test_vitals_run_survives_restart(tmp_path: Path) -> None:
    h = vitals(tmp_path)
    feed(h, "heart_rate", 20, 20)
    h2 = h.restarted()
    h2.clock.advance(10)
    assert only(h2.read("bed-1", "heart_rate", 20), *VITALS) == ["alarm.heart_rate_abnormal"]


def health(tmp_path: Path, **cfg: object) -> Harness:
    rules = settings(device_health=cfg, inactivity={"enabled": False}, battery_low_pct=20)
    return Harness(tmp_path, rules, FakeClock(local_ms(10)))


def test_offline_online_reported_on_change_only(tmp_path: Path) -> None:
    h = health(tmp_path)
    dev: Device = DEVICES["smoke-1"]
    first = h.engine.on_availability(dev, False, "no check-in")
    assert kinds(first) == ["device.offline"] and first[0].data == {"reason": "no check-in"}
    assert h.engine.on_availability(dev, False, "no check-in") == []  # a repeat
    assert kinds(h.engine.on_availability(dev, True, "")) == ["device.online"]
    h2 = h.restarted()
    assert h2.engine.on_availability(dev, True, "") == []  # remembered across a restart


def test_silent_device(tmp_path: Path) -> None:
    h = health(tmp_path, silent_after_s=3600)
    h.read("pir-1", "motion", True)
    assert h.run(3599, step=1) == []
    out = h.run(1)
    assert kinds(out) == ["device.offline"] and out[0].data["reason"] == "silent"
    assert h.run(7200, step=60) == []
    assert only(h.read("pir-1", "motion", True), "device.") == ["device.online"]


def test_low_battery_is_an_alert_once(tmp_path: Path) -> None:
    h = health(tmp_path)
    assert only(h.read("btn-1", "battery", 50), "device.") == []
    low = [d for d in h.read("btn-1", "battery", 19) if d.kind == "device.battery_low"]
    assert len(low) == 1 and low[0].priority.label == "alert"
    assert only(h.read("btn-1", "battery", 18), "device.") == []
    h.read("btn-1", "battery", 80)  # new battery
    assert only(h.read("btn-1", "battery", 10), "device.") == ["device.battery_low"]
