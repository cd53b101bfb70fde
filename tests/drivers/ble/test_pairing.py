"""Pairing: live candidates, adopting with and without a bindkey, and the clear refusals."""

from __future__ import annotations

import asyncio

import pytest

from drivers.base import DriverConfigError
from gateway.registry import DeviceRegistry
from sims.bluez import BluezControl
from sims.bluez.devices import add_heart_rate_sensor, heart_rate_measurement
from tests.drivers.ble import vectors as v
from tests.drivers.ble.conftest import DriverFactory, scanning
from tests.drivers.ble.fakes import FakeSink, poll_until

pytestmark = pytest.mark.timeout(30)

BTN = "3C:2E:F5:00:00:01"
ENC = "3C:2E:F5:00:00:02"
HRM = "C0:FF:EE:00:00:09"
KEY = "00112233445566778899aabbccddeeff"


def candidates(sink: FakeSink) -> dict[str, dict[str, object]]:
    return {str(u.info["address"]): dict(u.info) for u in sink.pairing_updates if u.stage == "candidate"}


async def test_candidates_stream_and_adopt_plain_and_encrypted(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    driver = await make_driver()
    await scanning(driver)
    await driver.start_pairing(5)
    await bluez.advertise_bthome(
        BTN, v.plain(v.packet_id(1), v.button(v.PRESS), info=v.PLAIN_SLEEPY), name="SBBT-002C", rssi=-55
    )
    await bluez.advertise_bthome(
        ENC,
        v.encrypted(v.packet_id(1), v.button(v.PRESS), mac=ENC, key=KEY, counter=10),
        name="SBBT-002C",
        rssi=-70,
    )
    await add_heart_rate_sensor(bluez, HRM)
    await bluez.advertise("11:22:33:44:55:66", name="phone")  # not a device we can use: not offered
    await sink.wait_for(lambda s: len(candidates(s)) == 3)
    found = candidates(sink)
    assert found[BTN] | {"profile": None} == {
        "address": BTN,
        "name": "SBBT-002C",
        "rssi": -55,
        "kind": "call_button",
        "encrypted": False,
        "needs_bindkey": False,
        "profile": None,
        "family": "bthome",
        "model": None,
        "unsupported": "",
    }
    assert found[ENC]["encrypted"] is True and found[ENC]["kind"] == "call_button"
    assert found[HRM]["kind"] == "heart_rate"
    assert sink.pairing_updates[0].stage == "open"

    plain = await driver.adopt(BTN.lower(), {"name": "Bedside button", "room": "bedroom"})
    assert (plain.id, plain.type, plain.room, plain.secret) == (
        "ble-3c2ef5000001",
        "call_button",
        "bedroom",
        None,
    )
    assert registry.get(plain.id) is not None

    with pytest.raises(DriverConfigError, match="give its bindkey"):
        await driver.adopt(ENC, {"name": "Toilet button"})
    with pytest.raises(DriverConfigError, match="does not decrypt"):
        await driver.adopt(ENC, {"secret": "ff" * 16})
    with pytest.raises(DriverConfigError, match="32 hexadecimal"):
        await driver.adopt(ENC, {"secret": "not-a-key"})
    assert registry.get("ble-3c2ef5000002") is None

    enc = await driver.adopt(ENC, {"secret": KEY.upper(), "room": "bathroom"})
    assert enc.secret == KEY
    assert KEY not in str(enc.public()) and enc.public()["secret_hint"] == "…eeff"
    ready = [u for u in sink.pairing_updates if u.stage == "ready"]
    assert [u.device for u in ready] == [plain.id, enc.id]
    assert all(KEY not in str(u.info) for u in sink.pairing_updates)

    # The packets that confirmed the pairing were test presses, not alarms; the next ones are.
    assert sink.values(plain.id, "press") == [] and sink.values(enc.id, "press") == []
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(2), v.button(v.PRESS)))
    await bluez.advertise_bthome(ENC, v.encrypted(v.packet_id(2), v.button(v.PRESS), mac=ENC, key=KEY, counter=11))
    await sink.wait_for(lambda s: s.values(plain.id, "press") == [True] and s.values(enc.id, "press") == [True])


async def test_adopt_waits_for_a_packet_or_says_why_not(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    driver = await make_driver(adopt_timeout_s=0.3)
    await scanning(driver)
    with pytest.raises(DriverConfigError, match="nothing heard from 3C:2E:F5:00:00:01"):
        await driver.adopt(BTN, {})
    with pytest.raises(DriverConfigError, match="not a Bluetooth address"):
        await driver.adopt("3C:2E:F5", {})

    driver.settings = driver.settings.model_copy(update={"adopt_timeout_s": 5})
    adopting = asyncio.create_task(driver.adopt(BTN, {"type": "pull_cord"}))
    await asyncio.sleep(0.1)
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(5), v.button(v.PRESS)))
    device = await adopting
    assert device.type == "pull_cord" and "tamper" in device.capabilities


async def test_adopt_gatt_heart_rate_strap(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    driver = await make_driver()
    await scanning(driver)
    sim = await add_heart_rate_sensor(bluez, HRM)
    await asyncio.sleep(0.05)
    device = await driver.adopt(HRM, {"room": "bedroom"})
    assert device.params == {"kind": "gatt", "profile": "heart_rate"} and device.type == "heart_rate"

    await poll_until(lambda: bluez.is_notifying(sim.characteristic))
    await bluez.notify(sim.characteristic, heart_rate_measurement(61))
    await sink.wait_for(lambda s: s.values(device.id, "heart_rate") == [61])

    await driver.remove(device.id)
    assert driver.link(device.id) is None and registry.get(device.id) is None

    async def disconnected() -> bool:
        return not await bluez.is_connected(sim.path)

    await poll_until(disconnected)  # the link is closed on removal
