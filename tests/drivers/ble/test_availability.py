"""Advertising devices go offline after a multiple of their own learned interval, and come back."""

from __future__ import annotations

import asyncio

import pytest

from drivers.ble.availability import IntervalTracker
from gateway.registry import DeviceRegistry
from sims.bluez import BluezControl
from tests.drivers.ble import vectors as v
from tests.drivers.ble.conftest import DriverFactory, add_device, scanning
from tests.drivers.ble.fakes import FakeSink


def test_interval_learning_multiple_floor_and_bursts() -> None:
    t = IntervalTracker(multiple=10, floor_s=300, unlearned_s=3600, min_gap_s=0.5)
    t.watch("fast", 0.0)
    t.watch("slow", 0.0)
    assert t.timeout("fast") == 3600  # nothing learned yet
    for i in range(1, 6):
        t.seen("fast", i * 10.0)
        t.seen("fast", i * 10.0 + 0.05)  # a burst repeat is not an interval
        t.seen("slow", i * 120.0)
    assert t.interval("fast") == 10.0
    assert t.timeout("fast") == 300  # 10 x 10 s is below the floor
    assert t.timeout("slow") == 1200  # 10 x 2 min: a slow sensor does not flap
    assert t.due(50.0 + 299) == []
    assert [d for d, _ in t.due(50.05 + 300)] == ["fast"]
    assert t.due(50.05 + 301) == []  # reported once
    assert [d for d, _ in t.due(600 + 1200)] == ["slow"]
    assert t.seen("fast", 2000.0) is True  # back
    assert t.seen("fast", 2010.0) is False


@pytest.mark.timeout(30)
async def test_silent_sensors_go_offline_by_their_own_interval(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    fast = await add_device(registry, "A4:C1:38:00:00:10", "door")
    slow = await add_device(registry, "A4:C1:38:00:00:11", "door")
    driver = await make_driver(offline_interval_multiple=3, offline_min_s=0.2, offline_unlearned_s=30)
    await scanning(driver)
    loop = asyncio.get_running_loop()
    for n in range(10):  # fast: every 0.1 s; slow: every 0.3 s (3 gaps learned)
        await bluez.advertise_bthome(fast.address, v.plain(v.packet_id(n), v.door(False)))
        if n % 3 == 0:
            await bluez.advertise_bthome(slow.address, v.plain(v.packet_id(n), v.door(False)))
        await asyncio.sleep(0.1)
    stopped = loop.time()

    def offline(s: FakeSink, dev: str) -> bool:
        return (dev, False) in [(d, o) for d, o, _ in s.availability_calls]

    await sink.wait_for(lambda s: offline(s, fast.id), within=5)
    assert not offline(sink, slow.id)  # a slower sensor does not flap with the fast one's timeout
    await sink.wait_for(lambda s: offline(s, slow.id), within=5)
    assert loop.time() - stopped >= 0.6  # its last advert was ~0.1 s before the stop; 3 x 0.3 s
    reason = next(r for d, o, r in sink.availability_calls if d == fast.id)
    assert "learned interval" in reason

    await bluez.advertise_bthome(fast.address, v.plain(v.packet_id(42), v.door(True)))
    await sink.wait_for(lambda s: sink.values(fast.id, "contact")[-1] == "open")
    assert (fast.id, True) in [(d, o) for d, o, _ in sink.availability_calls]
