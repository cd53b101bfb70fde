"""A failure with one advert, reading or device is logged and counted; BLE intake and the offline watch go on."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from drivers.ble import capabilities
from gateway.registry import DeviceRegistry
from sims.bluez import BluezControl
from tests.drivers.ble import vectors as v
from tests.drivers.ble.conftest import DriverFactory, add_device, scanning
from tests.drivers.ble.fakes import FakeSink, poll_until

pytestmark = pytest.mark.timeout(30)

BTN = "3C:2E:F5:22:00:01"


async def test_intake_failing_on_one_reading_does_not_stop_ble_intake(
    bluez: BluezControl,
    make_driver: DriverFactory,
    sink: FakeSink,
    registry: DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dev = await add_device(registry, BTN, "call_button")
    driver = await make_driver()
    await scanning(driver)
    sink.reading_errors.append(RuntimeError("outbox on fire"))  # the advert's first reading: its battery
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(1), v.battery(80), v.button(v.PRESS)))
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(2), v.button(v.DOUBLE_PRESS)))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 2)
    assert [r.meta["event"] for r in sink.readings if r.capability == "press"] == ["press", "double_press"]
    assert [(r.capability, r.value) for r in sink.failed] == [("battery", 80)]
    assert driver.health().counters["readings_failed"] == 1
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and "failed" in r.getMessage()]
    assert failures and dev.id in failures[0].getMessage() and BTN in failures[0].getMessage()
    assert failures[0].exc_info is not None  # the traceback is kept: this is a bug to fix, not noise


async def test_a_bug_handling_one_advert_does_not_stop_ble_intake(
    bluez: BluezControl,
    make_driver: DriverFactory,
    sink: FakeSink,
    registry: DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dev = await add_device(registry, BTN, "call_button")
    mapped = capabilities.to_capabilities
    calls = 0

    def mapping_with_a_bug(values: Any, device_type: str) -> list[capabilities.Mapped]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("a mapping bug")
        return mapped(values, device_type)

    monkeypatch.setattr(capabilities, "to_capabilities", mapping_with_a_bug)
    driver = await make_driver()
    await scanning(driver)
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(1), v.button(v.PRESS)))
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(2), v.button(v.LONG_PRESS)))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 1)
    assert [r.meta["event"] for r in sink.readings] == ["long_press"]
    assert driver.health().counters["adverts_failed"] == 1
    assert any(BTN in r.getMessage() and r.exc_info for r in caplog.records if r.levelno == logging.ERROR)


async def test_stop_is_not_swallowed_by_the_broad_catches(
    bluez: BluezControl,
    make_driver: DriverFactory,
    sink: FakeSink,
    registry: DeviceRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancellation arriving while the intake is busy with a reading must end the advert task."""
    await add_device(registry, BTN, "call_button")
    driver = await make_driver()
    await scanning(driver)
    entered = asyncio.Event()

    async def stuck_intake(_reading: Any) -> None:
        entered.set()
        await asyncio.Event().wait()  # never returns: only cancellation gets the driver out

    monkeypatch.setattr(sink, "reading", stuck_intake)
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(1), v.button(v.PRESS)))
    await asyncio.wait_for(entered.wait(), 5)
    await asyncio.wait_for(driver.stop(), 5)
    assert driver.health().state == "stopped"


async def test_intake_failing_on_one_offline_report_does_not_stop_the_watch(
    bluez: BluezControl,
    make_driver: DriverFactory,
    sink: FakeSink,
    registry: DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = await add_device(registry, "A4:C1:38:22:00:01", "door")
    second = await add_device(registry, "A4:C1:38:22:00:02", "door")
    sink.availability_errors.append(RuntimeError("outbox on fire"))
    driver = await make_driver(offline_min_s=0.2, offline_unlearned_s=0.2)
    await scanning(driver)
    # both were watched from start and never heard: both go silent in the same sweep, one report fails
    await sink.wait_for(lambda s: len(s.failed) + len(s.availability_calls) == 2)
    assert {d for d, _online, _r in [*sink.failed, *sink.availability_calls]} == {first.id, second.id}
    assert driver.health().counters["availability_failed"] == 1
    failed_id = sink.failed[0][0]
    assert any(failed_id in r.getMessage() and r.exc_info for r in caplog.records if r.levelno == logging.ERROR)

    # the watch still runs: a device heard again is back, and goes offline again when it falls silent
    await bluez.advertise_bthome(first.address, v.plain(v.packet_id(1), v.door(True)))
    await sink.wait_for(lambda s: (first.id, True) in [(d, o) for d, o, _ in s.availability_calls])
    await sink.wait_for(
        lambda s: [(d, o) for d, o, _ in s.availability_calls if d == first.id][-1] == (first.id, False)
    )
    assert sink.values(first.id, "contact") == ["open"]


async def test_a_dead_task_is_visible_in_health(
    bluez: BluezControl, make_driver: DriverFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should a loop die of a bug outside the per-device guards, health says so instead of nothing."""
    driver = await make_driver()
    await scanning(driver)

    def broken(_now: float) -> list[tuple[str, float]]:
        raise ZeroDivisionError("tracker bug")

    monkeypatch.setattr(driver._tracker, "due", broken)

    async def degraded() -> bool:
        return driver.health().state == "degraded"

    await poll_until(degraded, 5)
    health = driver.health()
    assert "ble-availability" in health.detail and "tracker bug" in health.detail
    assert health.counters["tasks_failed"] == 1
