"""Unit tests: BTHome parsing and mapping with spec vectors, replay guard, GATT profiles, config."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.base import DriverConfigError, DriverContext
from drivers.ble import bthome, create_driver
from drivers.ble.backoff import Backoff
from drivers.ble.config import TYPE_CAPABILITIES
from drivers.ble.pairing import device_id_for, normalise_address
from drivers.ble.profiles import PROFILES, ProfileDecodeError, profile_for_uuids
from drivers.ble.profiles.heart_rate import HEART_RATE_MEASUREMENT, HeartRateProfile
from drivers.ble.profiles.mattress import BED_STATUS, MattressProfile, encode_status
from drivers.ble.replay import Refusals, ReplayGuard
from drivers.ble.scanner import or_patterns
from gateway.registry import DeviceRegistry
from sims.bluez.devices import heart_rate_measurement
from tests.drivers.ble import vectors as v
from tests.drivers.ble.fakes import FakeSink

MAC = "3C:2E:F5:00:00:31"


def parse(data: bytes, key: str | None = None, mac: str = MAC) -> bthome.BTHomeAdvert:
    return bthome.parse(bthome.service_info(mac, "dev", -50, {bthome.BTHOME_UUID: data}, 1.0), key)


def test_spec_encryption_example() -> None:
    # Our encryption helper reproduces the specification's example byte for byte...
    assert v.encrypted(v.SPEC_PLAIN, mac=v.SPEC_MAC, key=v.SPEC_KEY, counter=v.SPEC_COUNTER) == v.SPEC_ENCRYPTED
    # ...and the library decrypts the example to the documented values.
    adv = parse(v.SPEC_ENCRYPTED, v.SPEC_KEY, mac=v.SPEC_MAC)
    assert adv.status == "ok" and adv.encrypted and adv.counter == v.SPEC_COUNTER
    assert dict((k, val) for _kind, k, val in adv.values) == {"temperature": 25.06, "humidity": 50.55}
    assert bthome.to_capabilities(adv, "door") == []  # temperature is not in the care vocabulary
    assert parse(v.SPEC_ENCRYPTED, "00" * 16, mac=v.SPEC_MAC).status == "decrypt_failed"
    assert parse(v.SPEC_ENCRYPTED, None, mac=v.SPEC_MAC).status == "needs_key"
    assert parse(v.SPEC_ENCRYPTED, v.SPEC_KEY, mac="54:48:E6:8F:80:A6").status == "decrypt_failed"  # other MAC


@pytest.mark.parametrize(
    ("objects", "dev_type", "expected"),
    [
        ((v.button(v.PRESS),), "call_button", [("press", True, "press")]),
        ((v.button(v.DOUBLE_PRESS),), "call_button", [("press", True, "double_press")]),
        ((v.button(v.LONG_PRESS),), "call_button", [("press", True, "long_press")]),
        ((v.button(0x00),), "call_button", []),  # "no event"
        ((v.motion(True),), "motion", [("motion", True, None)]),
        ((v.motion(False),), "motion", []),
        ((v.door(True),), "door", [("contact", "open", None)]),
        ((v.door(False),), "door", [("contact", "closed", None)]),
        ((v.window(True),), "door", [("contact", "open", None)]),
        ((v.moisture(True),), "leak", [("leak", True, None)]),
        ((v.moisture(False),), "leak", [("leak", False, None)]),
        ((v.occupancy(True),), "motion", [("motion", True, None)]),
        ((v.occupancy(False),), "mattress", [("in_bed", False, None)]),
        ((v.button(v.TRIPLE_PRESS),), "call_button", [("press", True, "triple_press")]),
        ((v.button(v.LONG_DOUBLE_PRESS),), "call_button", [("press", True, "long_double_press")]),
        ((v.button(v.LONG_TRIPLE_PRESS),), "call_button", [("press", True, "long_triple_press")]),
        ((v.button(v.HOLD_PRESS),), "call_button", [("press", True, "hold_press")]),
        ((v.opening(True),), "door", [("contact", "open", None)]),
        ((v.garage_door(False),), "door", [("contact", "closed", None)]),
        ((v.battery_low(True),), "call_button", [("battery_low", True, None)]),
        ((v.carbon_monoxide(True),), "gas", [("gas", True, None)]),
        ((v.gas(False),), "gas", [("gas", False, None)]),
        ((v.presence(True),), "motion", [("motion", True, None)]),
        ((v.presence(False),), "motion", []),
        ((v.problem(True),), "smoke", [("trouble", True, None)]),
        ((v.smoke(True),), "smoke", [("smoke", True, None)]),
        ((v.tamper(True),), "pull_cord", [("tamper", True, None)]),
        ((v.battery(42),), "door", [("battery", 42, None)]),
        ((v.battery(255),), "door", []),  # out of range: garbage, not "full"
    ],
)
def test_object_table(
    objects: tuple[bytes, ...], dev_type: str, expected: list[tuple[str, object, str | None]]
) -> None:
    for adv in (
        parse(v.plain(v.packet_id(3), *objects)),
        parse(v.encrypted(v.packet_id(3), *objects, mac=MAC, key="11" * 16, counter=5), "11" * 16),
    ):
        assert adv.status == "ok" and adv.packet_id == 3
        got = [(m.capability, m.value, m.meta.get("event")) for m in bthome.to_capabilities(adv, dev_type)]
        assert got == expected


def test_object_builders_match_the_specification() -> None:
    """The builders give the bytes of the BTHome v2 object table (id, then the little-endian value)."""
    assert v.opening(True) == bytes.fromhex("1101")
    assert v.battery_low(True) == bytes.fromhex("1501")
    assert v.carbon_monoxide(False) == bytes.fromhex("1700")
    assert v.garage_door(True) == bytes.fromhex("1b01")
    assert v.gas(True) == bytes.fromhex("1c01")
    assert v.presence(True) == bytes.fromhex("2501")
    assert v.problem(True) == bytes.fromhex("2601")
    assert v.smoke(True) == bytes.fromhex("2901")
    assert v.tamper(False) == bytes.fromhex("2b00")
    assert v.buttons(v.HOLD_PRESS, v.NO_EVENT, v.LONG_TRIPLE_PRESS) == bytes.fromhex("3a803a003a06")
    assert v.plain(v.packet_id(7), v.problem(True), info=v.PLAIN_SLEEPY) == bytes.fromhex("4400072601")


def test_every_capability_the_objects_map_to_is_listed_for_some_device_type() -> None:
    """A capability no device type lists is dropped as unmapped for every adopted device."""
    listed = {cap for caps in TYPE_CAPABILITIES.values() for cap in caps}
    mapped = {cap for cap, _convert in bthome.BTHOME_CAPABILITIES.values()}
    mapped |= {entry[0] for entry in bthome.TYPE_OVERRIDES.values() if entry is not None}
    assert mapped <= listed, mapped - listed


def test_bad_frames_and_downgrade() -> None:
    assert parse(b"").status == "invalid"
    assert parse(b"\x40").status == "invalid"
    assert parse(b"\x20\x00\x01").status == "invalid"  # BTHome version 1 bits
    assert parse(v.plain(v.packet_id(1), v.button(1)), "11" * 16).status == "downgrade"
    assert parse(bytes([0x41, 1, 2, 3]), "11" * 16).status in ("decrypt_failed", "invalid")


def test_replay_guard() -> None:
    g = ReplayGuard()
    assert g.check("d", counter=10, packet_id=None) == "fresh"
    g.accept("d", counter=10, packet_id=None)
    assert g.check("d", counter=10, packet_id=None) == "duplicate"
    assert g.check("d", counter=9, packet_id=None) == "replay"
    assert g.check("d", counter=11, packet_id=None) == "fresh"
    g.accept("p", counter=None, packet_id=4)
    assert g.check("p", counter=None, packet_id=4) == "duplicate"
    assert g.check("p", counter=None, packet_id=5) == "fresh"
    assert g.check("p", counter=None, packet_id=None) == "fresh"
    g.forget("d")
    assert g.check("d", counter=1, packet_id=None) == "fresh"


def test_replay_guard_tells_a_restarted_counter_from_one_replay() -> None:
    g = ReplayGuard()
    g.accept("d", counter=5000, packet_id=None)
    # an attacker replays one old press (sent three times, as devices do): refused, remembered, not a restart
    for _ in range(3):
        assert g.check("d", counter=4000, packet_id=None) == "replay"
        assert g.refuse("d", 4000) is False
    assert g.refusals()["d"] == Refusals(packets=3, counters=1, rising=1, last_counter=4000, restarted=False)
    g.accept("d", counter=5001, packet_id=None)  # the genuine next press: in step again
    assert g.refusals() == {}

    # after a battery change the device counts up from 1: rising counters below the kept one
    assert g.refuse("d", 1) is False
    assert g.refuse("d", 2) is True  # said once...
    assert g.refuse("d", 2) is False
    assert g.refuse("d", 3) is False  # ...not again for every further press
    assert g.refuse("d", 0) is False  # a lower one in between does not clear it
    assert g.refusals()["d"].restarted and g.refusals()["d"].counters == 4
    # rejection is not weakened by knowing this: its presses are still replays until re-adoption
    assert g.check("d", counter=4, packet_id=None) == "replay"
    g.forget("d")  # re-adopted
    assert g.refusals() == {}
    assert g.check("d", counter=4, packet_id=None) == "fresh"


def test_replay_refusals_are_not_written_with_the_counters(tmp_path: Path) -> None:
    g = ReplayGuard(tmp_path / "counters.json")
    g.accept("d", counter=9, packet_id=None)
    g.save()
    g.refuse("d", 1)
    assert not g.dirty  # nothing on disk changes: the kept counter stays 9
    assert ReplayGuard(tmp_path / "counters.json").check("d", counter=1, packet_id=None) == "replay"


def test_heart_rate_profile() -> None:
    p = HeartRateProfile()
    assert p.decode(HEART_RATE_MEASUREMENT, heart_rate_measurement(72)) == [("heart_rate", 72)]
    assert p.decode(HEART_RATE_MEASUREMENT, heart_rate_measurement(300, wide=True)) == [("heart_rate", 300)]
    assert p.decode(HEART_RATE_MEASUREMENT, heart_rate_measurement(300, wide=True) + b"\x10\x00") == [
        ("heart_rate", 300)
    ]  # RR interval after the rate is ignored
    assert p.decode(HEART_RATE_MEASUREMENT, heart_rate_measurement(60, contact=False)) == []
    for bad in (b"", b"\x00", b"\x01\x10", b"\x00\x00"):
        with pytest.raises(ProfileDecodeError):
            p.decode(HEART_RATE_MEASUREMENT, bad)


def test_mattress_profile() -> None:
    p = MattressProfile()
    assert p.decode(BED_STATUS, encode_status(True, 64, 14)) == [
        ("in_bed", True),
        ("heart_rate", 64),
        ("breath_rate", 14),
    ]
    assert p.decode(BED_STATUS, encode_status(False, 64, 14)) == [("in_bed", False)]
    with pytest.raises(ProfileDecodeError):
        p.decode(BED_STATUS, b"\x01\x01")
    assert profile_for_uuids([MattressProfile.service_uuid.upper()]) is MattressProfile
    assert set(PROFILES) == {"heart_rate", "mattress"}


def test_passive_patterns() -> None:
    pats = or_patterns([bthome.BTHOME_UUID], [HeartRateProfile.service_uuid, MattressProfile.service_uuid])
    assert (0, 0x16, b"\xd2\xfc") in [tuple(p) for p in pats]
    assert (0, 0x03, b"\x0d\x18") in [tuple(p) for p in pats]
    assert any(p[1] == 0x07 and len(p[2]) == 16 for p in pats)


def test_addresses_and_backoff() -> None:
    assert normalise_address("3c-2e-f5-00-00-31") == MAC == normalise_address("3c2ef5000031")
    assert device_id_for(MAC) == "ble-3c2ef5000031"
    b = Backoff(1, 8)
    delays = [b.next() for _ in range(6)]
    assert 0.8 <= delays[0] <= 1.2 and all(6.4 <= d <= 9.6 for d in delays[3:])
    b.reset()
    assert b.next() <= 1.2


def test_config_validation(tmp_path: Path) -> None:
    reg = DeviceRegistry(tmp_path / "r.json")
    ctx = DriverContext("gw", tmp_path, FakeSink(), reg)
    driver = create_driver(
        {
            "enabled": True,
            "adapter": "hci1",
            "passive": False,
            "offline_interval_multiple": 10,
            "offline_min_s": 300,
        },
        ctx,
    )
    assert driver.settings.adapter == "hci1" and not driver.settings.passive
    with pytest.raises(DriverConfigError, match="adapter"):
        create_driver({"adapter": "usb0"}, ctx)
    with pytest.raises(DriverConfigError, match="offline_interval_multiple"):
        create_driver({"offline_interval_multiple": 1}, ctx)
    with pytest.raises(DriverConfigError, match="scan_mode"):
        create_driver({"scan_mode": "passive"}, ctx)
