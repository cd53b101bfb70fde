"""Xiaomi MiBeacon: the parser's published adverts, through bleak's real BlueZ backend on the mocked BlueZ."""

from __future__ import annotations

import asyncio
import logging

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from xiaomi_ble.devices import DEVICE_TYPES

from core.devices import Device
from drivers.base import DriverConfigError, PairingUpdate
from drivers.ble import capabilities, mibeacon
from drivers.ble.config import TYPE_CAPABILITIES
from drivers.ble.driver import BleDriver
from drivers.ble.pairing import device_id_for
from gateway.registry import DeviceRegistry
from sims.bluez import BluezControl
from sims.bluez import mibeacon as mi
from tests.drivers.ble import vectors as v
from tests.drivers.ble import xiaomi_vectors as xv
from tests.drivers.ble.conftest import DriverFactory, add_device, scanning
from tests.drivers.ble.fakes import FakeSink, poll_until

pytestmark = pytest.mark.timeout(30)

RANDOM = "5D:11:22:33:44:55"  # a resolvable private address (top bits 01)


def mapped(vector: xv.Vector, device_type: str) -> list[tuple[str, object, dict[str, object]]]:
    advert = mibeacon.parse(vector.address, None, -60, vector.data, vector.bindkey)
    assert advert.status == "ok", advert
    return [(m.capability, m.value, m.meta) for m in capabilities.to_capabilities(advert.values, device_type)]


def test_published_adverts_map_to_capabilities() -> None:
    assert mapped(xv.DOOR_MCCGQ02HL, "door") == [("contact", "open", {})]
    assert mapped(xv.DOOR_CGH1, "door") == [("contact", "open", {})]
    assert mapped(xv.MOTION_MJYD02YL, "motion") == [("motion", True, {})]
    assert mapped(xv.MOTION_MUE4094RT, "motion") == [("motion", True, {})]
    assert mapped(xv.SWITCH_XMWXKG01YL, "call_button") == [("press", True, {"button": "right", "event": "press"})]
    # a flood detector's own button is for pairing: not a call, not a leak
    assert mapped(xv.FLOOD_SJWS01LM_BUTTON, "leak") == []


def test_published_adverts_counters_models_and_refusals() -> None:
    door = mibeacon.parse(xv.DOOR_MCCGQ02HL.address, None, -60, xv.DOOR_MCCGQ02HL.data, xv.DOOR_MCCGQ02HL.bindkey)
    assert (door.model, door.encrypted, door.counter, door.packet_id) == ("MCCGQ02HL", True, 0x04 << 8 | 0xA3, None)
    assert door.address == xv.DOOR_MCCGQ02HL.address
    plain = mibeacon.parse(xv.DOOR_CGH1.address, None, -60, xv.DOOR_CGH1.data, None)
    assert (plain.encrypted, plain.counter, plain.packet_id) == (False, None, 0x01)
    wrong = xv.MOTION_RTCGQ02LM_WRONG_KEY
    assert mibeacon.parse(wrong.address, None, -60, wrong.data, wrong.bindkey).status == "decrypt_failed"
    assert mibeacon.parse(wrong.address, None, -60, wrong.data, None).status == "needs_key"
    assert mibeacon.parse(xv.DOOR_CGH1.address, None, -60, xv.DOOR_CGH1.data, "00" * 16).status == "downgrade"
    assert mibeacon.parse("00:00:00:00:00:01", None, -60, b"\x58\x58\x8b", None).status == "invalid"


def test_simulator_frames_are_the_published_ones() -> None:
    """The simulator's encoder re-seals the published door advert's plaintext to the same bytes."""
    vec = xv.DOOR_MCCGQ02HL
    assert vec.bindkey is not None
    data = vec.data
    nonce = data[5:11] + data[2:5] + data[-7:-4]
    plaintext = AESCCM(bytes.fromhex(vec.bindkey), tag_length=4).decrypt(nonce, data[11:-7] + data[-4:], b"\x11")
    counter = data[4] | int.from_bytes(data[-7:-4], "little") << 8
    assert mi.frame(mi.PRODUCT_IDS["MCCGQ02HL"], counter, plaintext, mac=vec.address, key=vec.bindkey) == data


def test_supported_models_are_known_to_the_parser_and_fit_their_type() -> None:
    known = {entry.model for entry in DEVICE_TYPES.values()}
    for model, entry in mibeacon.XIAOMI_MODELS.items():
        assert model in known, model
        assert entry.device_type in TYPE_CAPABILITIES
        assert mibeacon.model_problem(model, None) is None, model
    assert "not supported" in (mibeacon.model_problem("LYWSDCGQ", None) or "")
    assert "never press" in (mibeacon.model_problem("MCCGQ02HL", "call_button") or "")


async def adopted(
    driver: BleDriver, bluez: BluezControl, vec: xv.Vector, via: str | None = None, **opts: str
) -> Device:
    """Let the driver hear the vector (from ``via`` if given) and adopt it with its bindkey."""
    await bluez.advertise(via or vec.address, service_data={mi.MIBEACON_UUID: vec.data})
    return await driver.adopt(vec.address, {"secret": vec.bindkey, **opts} if vec.bindkey else dict(opts))


async def test_encrypted_door_is_offered_adopted_and_reports(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    vec = xv.DOOR_MCCGQ02HL
    driver = await make_driver()
    await scanning(driver)
    await driver.start_pairing(30)
    await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: vec.data}, rssi=-58)

    def candidate(s: FakeSink) -> PairingUpdate | None:
        return next((u for u in s.pairing_updates if u.stage == "candidate" and u.info["address"] == vec.address), None)

    await sink.wait_for(lambda s: candidate(s) is not None)
    info = candidate(sink).info  # type: ignore[union-attr]
    assert (info["family"], info["model"], info["kind"], info["needs_bindkey"]) == (
        "mibeacon",
        "MCCGQ02HL",
        "door",
        True,
    )
    with pytest.raises(DriverConfigError, match="give its bindkey"):
        await driver.adopt(vec.address, {})
    with pytest.raises(DriverConfigError, match="does not decrypt"):
        await driver.adopt(vec.address, {"secret": "00" * 16})
    with pytest.raises(DriverConfigError, match="never press"):
        await driver.adopt(vec.address, {"secret": vec.bindkey, "type": "call_button"})
    device = await driver.adopt(vec.address, {"secret": vec.bindkey, "room": "hall"})
    assert (device.type, device.params, device.secret) == (
        "door",
        {"kind": "mibeacon", "model": "MCCGQ02HL"},
        vec.bindkey,
    )

    sim = mi.SimXiaomiDevice(vec.address, "MCCGQ02HL", vec.bindkey, counter=0x04A3)
    await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: sim.packet_of(mi.door(False), mi.battery(91))})
    await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: sim.packet_of(mi.door(True))})
    await sink.wait_for(lambda s: s.values(device.id, "contact") == ["closed", "open"])
    assert sink.values(device.id, "battery") == [91]
    assert all(r.meta["encrypted"] is True for r in sink.readings)


async def test_plain_adverts_motion_and_unsupported_model(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink
) -> None:
    driver = await make_driver()
    await scanning(driver)
    motion = await adopted(driver, bluez, xv.MOTION_MJYD02YL)
    assert (motion.type, motion.secret) == ("motion", None)
    data = bytearray(xv.MOTION_MJYD02YL.data)
    data[4] += 1  # the next frame (frame counter) with the same motion object
    await bluez.advertise(motion.address, service_data={mi.MIBEACON_UUID: bytes(data)})
    await sink.wait_for(lambda s: s.values(motion.id, "motion") == [True])
    with pytest.raises(DriverConfigError, match="LYWSDCGQ is not supported"):
        await adopted(driver, bluez, xv.THERMOMETER_LYWSDCGQ)


async def test_payload_mac_matches_a_device_on_a_random_address(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink
) -> None:
    vec = xv.SWITCH_XMWXKG01YL
    driver = await make_driver()
    await scanning(driver)
    device = await adopted(driver, bluez, vec, via=RANDOM)  # heard only from a random address
    assert device.id == device_id_for(vec.address) and device.address == vec.address
    sim = mi.SimXiaomiDevice(vec.address, "XMWXKG01YL", vec.bindkey, counter=0x024F)
    await bluez.advertise("6A:00:00:00:00:02", service_data={mi.MIBEACON_UUID: sim.packet_of(mi.switch_press(1))})
    await sink.wait_for(lambda s: len(s.values(device.id, "press")) == 1)
    press = next(r for r in sink.readings if r.capability == "press")
    assert press.meta["button"] == "left" and press.meta["event"] == "press"


async def test_same_advert_within_a_burst_is_one_press(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    driver = await make_driver(advert_burst_s=5)
    await scanning(driver)
    enc = await adopted(driver, bluez, xv.SWITCH_XMWXKG01YL)
    sim = mi.SimXiaomiDevice(enc.address, "XMWXKG01YL", enc.secret, counter=0x0300)
    packet = sim.packet_of(mi.switch_press(2))
    for rssi in (-60, -64, -61, -66):  # BlueZ reports every copy (and every RSSI change) of one press
        await bluez.advertise(enc.address, rssi=rssi, service_data={mi.MIBEACON_UUID: packet})
    # a plain BTHome button without a packet id: the same bytes repeated are one press too
    plain = await add_device(registry, "3C:2E:F5:00:00:77", "call_button")
    for rssi in (-60, -70, -62):
        await bluez.advertise_bthome(plain.address, v.plain(v.button(v.PRESS)), rssi=rssi)
    await bluez.advertise_bthome(plain.address, v.plain(v.button(v.DOUBLE_PRESS)))
    await sink.wait_for(lambda s: len(s.values(plain.id, "press")) == 2)
    assert [r.meta["event"] for r in sink.readings if r.device == plain.id] == ["press", "double_press"]
    assert len(sink.values(enc.id, "press")) == 1
    assert driver.health().counters["duplicates"] == 5


async def test_restarted_counter_raises_needs_readoption_at_once(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, caplog: pytest.LogCaptureFixture
) -> None:
    vec = xv.DOOR_MCCGQ02HL
    driver = await make_driver()
    await scanning(driver)
    device = await adopted(driver, bluez, vec)
    sim = mi.SimXiaomiDevice(vec.address, "MCCGQ02HL", vec.bindkey, counter=0x04A3)
    await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: sim.packet_of(mi.door(False))})
    await sink.wait_for(lambda s: s.values(device.id, "contact") == ["closed"])
    sim.restart()  # battery change
    for is_open in (True, False, True):
        await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: sim.packet_of(mi.door(is_open))})
    await sink.wait_for(lambda s: s.values(device.id, "needs_readoption") == [True])
    alert = next(r for r in sink.readings if r.capability == "needs_readoption")
    assert "restarted" in alert.meta["reason"]
    assert sink.values(device.id, "contact") == ["closed"]  # nothing after the restart was taken
    health = driver.health()
    assert health.devices[device.id]["needs_readoption"] is True and device.id in health.detail
    assert health.counters["counter_restarts"] == 1
    # adopting it again takes its new counter
    fresh = sim.packet_of(mi.door(False))
    await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: fresh})
    await driver.adopt(vec.address, {"secret": vec.bindkey})
    await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: sim.packet_of(mi.door(True))})
    await sink.wait_for(lambda s: s.values(device.id, "contact") == ["closed", "open"])
    assert device.id not in driver.health().devices


async def test_neighbours_unreadable_adverts_are_logged_once_a_minute(
    bluez: BluezControl, make_driver: DriverFactory, caplog: pytest.LogCaptureFixture
) -> None:
    driver = await make_driver()
    await scanning(driver)
    caplog.set_level(logging.DEBUG)
    wrong = xv.MOTION_RTCGQ02LM_WRONG_KEY
    for i in range(40):
        mac = f"A4:C1:38:00:01:{i:02X}"
        junk = bytes([0x50, 0x40, 0xFF, 0xFF, i]) + bytes.fromhex(mac.replace(":", ""))[::-1] + b"\x01\x10"
        await bluez.advertise(mac, service_data={mi.MIBEACON_UUID: junk})
    await bluez.advertise(wrong.address, service_data={mi.MIBEACON_UUID: wrong.data})

    async def taken() -> bool:
        return driver.health().counters.get("adverts", 0) >= 41

    await poll_until(taken)
    assert driver.health().counters["frames_bad"] >= 40
    ours = [r for r in caplog.records if r.name == "drivers.ble.driver" and "unreadable advert" in r.getMessage()]
    assert len(ours) == 1
    assert not [r for r in caplog.records if r.name.startswith("xiaomi_ble") and r.levelno >= logging.INFO]


async def test_keep_alive_frames_are_neither_readings_nor_errors(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, caplog: pytest.LogCaptureFixture
) -> None:
    """MiBeacon frames without objects (the device saying it is there) name the model and nothing else."""
    vec = xv.DOOR_MCCGQ02HL
    driver = await make_driver()
    await scanning(driver)
    device = await adopted(driver, bluez, vec)
    sim = mi.SimXiaomiDevice(vec.address, "MCCGQ02HL", vec.bindkey, counter=0x04A3)
    keep_alive = mi.frame(mi.PRODUCT_IDS["MCCGQ02HL"], 0x04A4, mac=vec.address)[:11]  # header + MAC only
    assert mibeacon.parse(vec.address, None, -60, bytes([0x10, 0x58]) + keep_alive[2:], None).status == "empty"
    caplog.set_level(logging.INFO)
    for _ in range(3):
        await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: bytes([0x10, 0x58]) + keep_alive[2:]})
    await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: sim.packet_of(mi.door(False))})
    await sink.wait_for(lambda s: s.values(device.id, "contact") == ["closed"])
    counters = driver.health().counters
    assert counters["beacons"] >= 1 and counters.get("frames_bad", 0) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_keep_alive_offers_the_device_but_adopt_waits_for_a_reading(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink
) -> None:
    mac = "E4:AA:EC:00:00:51"
    key = "11" * 16
    sim = mi.SimXiaomiDevice(mac, "MCCGQ02HL", key, counter=10)
    keep_alive = bytes([0x10, 0x58]) + mi.frame(mi.PRODUCT_IDS["MCCGQ02HL"], 11, mac=mac)[2:11]
    driver = await make_driver(adopt_timeout_s=5)
    await scanning(driver)
    await driver.start_pairing(30)
    await bluez.advertise(mac, service_data={mi.MIBEACON_UUID: keep_alive})
    await sink.wait_for(lambda s: any(u.stage == "candidate" and u.info["address"] == mac for u in s.pairing_updates))
    info = next(u.info for u in sink.pairing_updates if u.stage == "candidate" and u.info["address"] == mac)
    assert (info["model"], info["kind"], info["unsupported"]) == ("MCCGQ02HL", "door", "")
    adopt = asyncio.create_task(driver.adopt(mac, {"secret": key}))
    await asyncio.sleep(0.2)
    await bluez.advertise(mac, rssi=-70, service_data={mi.MIBEACON_UUID: keep_alive})  # not enough to adopt
    await asyncio.sleep(0.2)
    assert not adopt.done()
    await bluez.advertise(mac, service_data={mi.MIBEACON_UUID: sim.packet_of(mi.door(False))})
    device = await adopt
    assert device.params == {"kind": "mibeacon", "model": "MCCGQ02HL"}
