"""Fuzzed advertisements: never a crash, never a forged alarm, bad ones counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.base import DriverContext
from drivers.ble import bthome, create_driver
from drivers.ble.driver import Advert
from drivers.ble.profiles.heart_rate import HEART_RATE_SERVICE
from gateway.registry import DeviceRegistry
from gateway.rules.immediate import VALUE_CHECKS
from sims.bluez import BluezControl
from tests.drivers.ble import vectors as v
from tests.drivers.ble.conftest import DriverFactory, add_device, scanning
from tests.drivers.ble.fakes import FakeSink, poll_until

PLAIN_DEV = "3C:2E:F5:00:00:41"
ENC_DEV = "3C:2E:F5:00:00:42"
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

addresses = st.sampled_from([PLAIN_DEV, ENC_DEV, "3C:2E:F5:00:00:43"])
info_bytes = st.sampled_from([0x40, 0x41, 0x44, 0x45, 0x00, 0xFF])
# Objects the table maps (and a few awkward ones: timestamp, text) with arbitrary data bytes.
objects = st.lists(
    st.builds(
        lambda i, b: bytes([i]) + b,
        st.sampled_from([0x00, 0x01, 0x15, 0x1A, 0x20, 0x21, 0x23, 0x2B, 0x2D, 0x3A, 0x50, 0x53]),
        st.binary(min_size=1, max_size=4),
    ),
    max_size=6,
)
payloads = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda i, b: bytes([i]) + b, info_bytes, st.binary(max_size=40)),
    st.builds(lambda i, objs: bytes([i]) + b"".join(objs), st.sampled_from([0x40, 0x44]), objects),
)


@pytest.mark.timeout(120)
def test_fuzzed_service_data_never_crashes(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    sink = FakeSink()
    registry = DeviceRegistry(tmp_path / "registry.json")
    registry.open()
    try:
        loop.run_until_complete(add_device(registry, PLAIN_DEV, "call_button"))
        loop.run_until_complete(add_device(registry, ENC_DEV, "door", secret=KEY))
        driver = create_driver({}, DriverContext("gw", tmp_path, sink, registry))
        seen = 0

        @settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            address=addresses,
            data=payloads,
            name=st.one_of(st.none(), st.text(max_size=20)),
            rssi=st.integers(-127, 20),
            uuids=st.lists(st.sampled_from([HEART_RATE_SERVICE, "bogus", ""])),
            other=st.dictionaries(st.text(max_size=36), st.binary(max_size=8), max_size=2),
        )
        def one(
            address: str, data: bytes, name: str | None, rssi: int, uuids: list[str], other: dict[str, bytes]
        ) -> None:
            nonlocal seen
            adv = Advert(address, name, rssi, {**other, bthome.BTHOME_UUID: data}, tuple(uuids), float(seen))
            seen += 1
            loop.run_until_complete(driver.handle_advert(adv))  # must not raise

        one()
        assert seen >= 1000
    finally:
        registry.close()
        loop.close()
    counters = driver.health().counters
    assert counters["adverts"] == seen
    assert counters["frames_bad"] > seen // 10
    enc_id = "ble-3c2ef5000042"
    assert [r for r in sink.readings if r.device == enc_id] == []  # nothing forged got through the MIC
    for r in sink.readings:
        assert VALUE_CHECKS[r.capability](r.value), r
        assert r.capability in registry.get(r.device).capabilities  # type: ignore[union-attr]


@pytest.mark.timeout(30)
async def test_garbage_over_the_air_then_a_real_press(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    import random

    rng = random.Random(4)
    dev = await add_device(registry, PLAIN_DEV, "call_button")
    driver = await make_driver()
    await scanning(driver)
    for i in range(60):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 30)))
        await bluez.advertise(
            PLAIN_DEV if i % 2 else "3C:2E:F5:00:00:44",
            rssi=-60 - i % 7,
            service_data={bthome.BTHOME_UUID: junk},
            manufacturer_data={0x0BA9: junk},
        )
    # the garbage has been taken once the driver is idle; then a genuine press must still get through
    await bluez.advertise("3C:2E:F5:00:00:45", uuids=[HEART_RATE_SERVICE])

    async def all_taken() -> bool:
        return driver.health().counters.get("adverts", 0) >= 61

    await poll_until(all_taken)
    before = len(sink.values(dev.id, "press"))
    await bluez.advertise_bthome(PLAIN_DEV, v.plain(v.packet_id(200), v.button(v.PRESS)))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == before + 1)
    assert driver.health().counters["frames_bad"] >= 10
    assert driver.health().state == "up"
