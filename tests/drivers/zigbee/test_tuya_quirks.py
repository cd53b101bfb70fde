"""fbgw's own Tuya SOS quirks, on a zigpy device built from the simulator's descriptor (the published signature):
every report of an alarm data point is one press through the mapping path (quirk -> IAS zone status -> the zone
type's reading), a second and third press included; a data point the quirk does not know, or a truncated frame,
raises nothing and reads as nothing.

The integration run of the same devices (real zigpy-znp against the simulator) is in ``test_families.py``.
"""

from __future__ import annotations

import struct
from typing import Any
from unittest.mock import MagicMock

import pytest
import zigpy.device
import zigpy.types as t

import drivers.zigbee.tuya_quirks  # noqa: F401 - registers the quirks, as the device library does
from drivers.zigbee import ias, listen, mapping
from sims.znp.descriptor import DEVICES_DIR, Descriptor

PERSONAL_EMERGENCY = 0x002C
TUYA = 0xEF00


def quirked(family_file: str) -> Any:
    """The device of the descriptor, as zigpy interviewed it, resolved by the device registry fbgw uses."""
    import zha.quirks

    desc = Descriptor.load(DEVICES_DIR / family_file)
    zdev = zigpy.device.Device(MagicMock(), t.EUI64.convert("a4:c1:38:00:00:00:00:2c"), 0x2C2C)
    for spec in desc.endpoints:
        ep = zdev.add_endpoint(spec.id)
        ep.profile_id, ep.device_type = spec.profile, spec.device_type
        for cluster in spec.in_clusters:
            ep.add_input_cluster(cluster)
        for cluster in spec.out_clusters:
            ep.add_output_cluster(cluster)
    zdev.manufacturer, zdev.model = desc.manufacturer, desc.model
    return zha.quirks.DEVICE_REGISTRY.resolve(zdev)


def data_report(seq: int, dp: int, payload: bytes = b"\x00", dp_type: int = 4) -> t.ZigbeePacket:
    """A Tuya "data report" (0xEF00 command 0x02) of one data point (type 4 = enum) from the device."""
    body = bytes([0, seq, dp, dp_type]) + struct.pack(">H", len(payload)) + payload
    return packet(seq, bytes([0x19, seq, 0x02]) + body)  # cluster specific, to client, no default response


def packet(tsn: int, data: bytes) -> t.ZigbeePacket:
    return t.ZigbeePacket(
        src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x2C2C),
        src_ep=1,
        dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x0000),
        dst_ep=1,
        tsn=tsn,
        profile_id=260,
        cluster_id=TUYA,
        data=t.SerializableBytes(data),
        lqi=200,
        rssi=-50,
    )


def presses(said: list[listen.Said]) -> list[tuple[str, object]]:
    """What the driver reads from what the quirked clusters said (its IAS Zone path, zone type 0x002C)."""
    out: list[tuple[str, object]] = []
    previous: int | None = None
    for s in said:
        if s.key != (mapping.IAS_ZONE, "server"):
            continue  # the battery's Power Configuration
        assert (s.what, s.id) == ("attribute", mapping.ZONE_STATUS), s
        out += ias.zone_readings(PERSONAL_EMERGENCY, int(s.value), previous)
        previous = int(s.value)
    return out


@pytest.mark.parametrize(
    ("family_file", "alarms", "other"),
    [
        ("tuya-sos-nojsjtj2.json", (26, 29, 26, 29), (23, 3, 1)),
        ("tuya-sos-ts0601.json", (23, 23, 23), (26, 29, 1)),
    ],
)
async def test_each_alarm_data_point_is_one_press_and_others_are_nothing(
    family_file: str, alarms: tuple[int, ...], other: tuple[int, ...]
) -> None:
    zdev = quirked(family_file)
    ep = zdev.endpoints[1]
    assert ep.in_clusters[mapping.IAS_ZONE].ep_attribute == "ias_zone"
    said: list[listen.Said] = []
    detach = listen.attach(zdev, said.append)
    try:
        seq = 0
        for dp in other:  # not an alarm of this device (another button's press, its battery...)
            seq += 1
            zdev.packet_received(data_report(seq, dp))
        seq += 1
        zdev.packet_received(packet(seq, bytes([0x19, seq, 0x02, 0x00])))  # truncated
        assert presses(said) == []
        for n, dp in enumerate(alarms, start=1):
            seq += 1
            zdev.packet_received(data_report(seq, dp))
            assert presses(said) == [("press", True)] * n, f"press {n} (data point {dp})"
    finally:
        detach()


async def test_the_nojsjtj2_quirk_maps_exactly_its_two_published_data_points() -> None:
    zdev = quirked("tuya-sos-nojsjtj2.json")
    mcu = zdev.endpoints[1].in_clusters[TUYA]
    assert set(mcu.dp_to_attribute) == {26, 29}
    assert mapping.POWER_CFG not in zdev.endpoints[1].in_clusters  # no battery dp
