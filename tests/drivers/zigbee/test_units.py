"""Radio-less units: IAS and cluster tables, ZCL decoding, config (znp and ezsp), stick discovery,
availability clock, and the simulator's own wire formats checked against zigpy-znp's definitions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
import zigpy_znp.types as zt
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import DriverConfigError
from drivers.zigbee import enroll, ias, inbound, mapping, ports
from drivers.zigbee.availability import Availability
from drivers.zigbee.config import ZigbeeSection, zigpy_config
from drivers.zigbee.pairing import Deadlines, clamp_seconds
from drivers.zigbee.radio import app_class, validated_config
from sims.znp import nvram
from sims.znp.frames import CmdType, Frame, FrameReader

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("zone_type", "capability", "on", "off"),
    [
        (0x0028, "smoke", True, False),
        (0x002A, "leak", True, False),
        (0x002B, "gas", True, False),
        (0x0015, "contact", "open", "closed"),
        (0x000D, "motion", True, False),
        (0x002C, "press", True, None),
        (0x0115, "press", True, None),
        (0x010F, "press", True, None),
    ],
)
def test_zone_type_table(zone_type: int, capability: str, on: object, off: object) -> None:
    assert dict(ias.zone_readings(zone_type, ias.ALARM1, None)) == {capability: on}
    assert dict(ias.zone_readings(zone_type, ias.ALARM2, None)) == {capability: on}
    cleared = dict(ias.zone_readings(zone_type, 0, ias.ALARM1))
    assert cleared == ({} if off is None else {capability: off})


def test_flag_bits_report_changes_and_restores() -> None:
    status = ias.ALARM1 | ias.TAMPER | ias.BATTERY_LOW
    assert dict(ias.zone_readings(0x0028, status, None)) == {"smoke": True, "tamper": True, "battery_low": True}
    # Same flags again: only the alarm capability is repeated (never lose a repeated alarm).
    assert dict(ias.zone_readings(0x0028, status, status)) == {"smoke": True}
    restored = dict(ias.zone_readings(0x0028, ias.TROUBLE | ias.AC_MAINS, status))
    assert restored == {"smoke": False, "tamper": False, "battery_low": False, "trouble": True, "mains_fault": True}


def test_unknown_zone_type_still_reports_flags() -> None:
    assert dict(ias.zone_readings(0x7777, ias.ALARM1 | ias.TAMPER, None)) == {"tamper": True}
    assert ias.capabilities(0x0028, mains=True) == ["smoke", "tamper", "battery_low", "trouble", "mains_fault"]


def test_attribute_table() -> None:
    power, occupancy = (mapping.POWER_CFG, "server"), (mapping.OCCUPANCY, "server")
    assert mapping.attribute_reading(power, 0x0021, 130) == ("battery", 65)
    assert mapping.attribute_reading(power, 0x0020, 30) == ("battery", 100)
    assert mapping.attribute_reading(power, 0x0020, 27) == ("battery", 67)
    assert mapping.attribute_reading(power, 0x0021, 0xFF) is None  # "unknown"
    assert mapping.attribute_reading(occupancy, 0x0000, 1) == ("motion", True)
    assert mapping.attribute_reading(occupancy, 0x0000, 0) == ("motion", False)
    assert mapping.attribute_reading((mapping.ON_OFF, "client"), 0x0000, True) == ("contact", "open")
    assert mapping.command_reading((mapping.IAS_ACE, "client"), 0x02) == ("press", True, "emergency")
    assert mapping.event_gesture((mapping.MULTISTATE_INPUT, "server"), "hold") == "long"


def test_profile_from_clusters() -> None:
    ias_zone, power, wd = (mapping.IAS_ZONE, "server"), (mapping.POWER_CFG, "server"), (mapping.IAS_WD, "server")
    smoke = mapping.profile({ias_zone, power, wd}, zone_type=0x0028)
    assert smoke is not None and smoke.device_type == "smoke"
    assert smoke.capabilities == ("smoke", "battery", "tamper", "battery_low", "trouble")
    on_off = {(mapping.ON_OFF, "client"), power}
    remote, ikea = mapping.profile(on_off), mapping.profile(on_off, simple_type=0x0850)
    assert remote is not None and (remote.device_type, remote.capabilities) == ("remote", ("press", "battery"))
    assert ikea is not None and (ikea.device_type, ikea.capabilities) == ("motion", ("motion", "battery"))
    aqara = mapping.profile({ias_zone, (mapping.OCCUPANCY, "server"), power}, zone_type=0x000D)
    assert aqara is not None and (mapping.OCCUPANCY, "server") not in aqara.sources  # one source of motion
    assert mapping.profile({(0x0000, "server"), (0x0006, "server")}) is None
    reason = mapping.missing_reason({(0x0000, "server"), (mapping.TUYA_DP, "server")}, None, "_TZE200_x", "TS0601")
    assert "0xEF00" in reason and "_TZE200_x TS0601" in reason
    assert "zone type 0x7777" in mapping.missing_reason({ias_zone}, 0x7777, "M", "X")


def test_decode_ias_frames() -> None:
    notif = bytes([0x19, 7, 0x00]) + (0x0005).to_bytes(2, "little") + bytes([0, 3]) + bytes(2)
    assert inbound.decode(0x0500, notif) == inbound.ZoneStatus(5, 3)
    enroll = bytes([0x19, 8, 0x01]) + (0x0028).to_bytes(2, "little") + (0x120B).to_bytes(2, "little")
    assert inbound.decode(0x0500, enroll) == inbound.EnrollRequest(0x0028, 0x120B)
    report = bytes([0x18, 9, 0x0A, 0x02, 0x00, 0x19]) + (0x0001).to_bytes(2, "little")
    assert inbound.decode(0x0500, report) == inbound.ZoneStatus(1)
    assert inbound.decode(0x0006, bytes([0x01, 1, 0x02])) == inbound.ClientCommand(0x0006, 0x02)
    with pytest.raises(inbound.MalformedFrame):
        inbound.decode(0x0500, bytes([0x19, 1, 0x00, 0x01]))
    with pytest.raises(inbound.MalformedFrame):
        inbound.decode(0x0001, bytes([0x18, 1, 0x0A, 0x21, 0x00, 0x20]))  # report missing its value


@given(st.integers(0, 0xFFFF), st.binary(max_size=40))
def test_decode_never_fails_other_than_malformed(cluster: int, data: bytes) -> None:
    try:
        inbound.decode(cluster, data)
    except inbound.MalformedFrame:
        pass


def test_config_validation() -> None:
    assert ZigbeeSection.parse({}).radio == "znp"
    with pytest.raises(DriverConfigError, match=r"drivers\.zigbee"):
        ZigbeeSection.parse({"radoi": "znp"})
    with pytest.raises(DriverConfigError):
        ZigbeeSection.parse({"radio": "xbee"})
    with pytest.raises(DriverConfigError):
        ZigbeeSection.parse({"reconnect_min_s": 5, "reconnect_max_s": 1})
    defaults = ZigbeeSection.parse({})
    assert defaults.offline_after_mains_s == 7200 and defaults.offline_after_battery_s == 90000
    assert defaults.interview_timeout_s == 90 and defaults.enroll_step_timeout_s == 30
    with pytest.raises(DriverConfigError):
        ZigbeeSection.parse({"interview_timeout_s": 0})


@pytest.mark.parametrize(("radio", "module"), [("znp", "zigpy_znp"), ("ezsp", "bellows"), ("deconz", "zigpy_deconz")])
def test_radio_choice_builds_that_library_config(tmp_path: Path, radio: str, module: str) -> None:
    settings = ZigbeeSection.parse(
        {"radio": radio, "port": "/dev/ttyUSB0", "baudrate": 460800, "flow_control": "hardware", "channel": 20}
    )
    cfg = validated_config(radio, zigpy_config(settings, tmp_path, "/dev/ttyUSB0"))
    assert cfg["device"]["path"] == "/dev/ttyUSB0"
    assert cfg["device"]["baudrate"] == 460800 and cfg["device"]["flow_control"] == "hardware"
    assert cfg["database_path"] == str(tmp_path / "zigbee.db")
    assert cfg["network"]["channel"] == 20
    cls = app_class(radio)
    assert cls.__mro__[1].__module__.startswith(module)
    if radio == "ezsp":
        assert "ezsp_config" in cfg  # bellows filled in its own section


def _port(device: str, vid: int | None, pid: int | None, product: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(device=device, vid=vid, pid=pid, product=product, description=product or "n/a")


async def test_find_stick_by_usb_id_product_and_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    probed: list[tuple[str, str]] = []

    async def probe(radio: str, path: str) -> bool:
        probed.append((radio, path))
        return (radio, path) == ("ezsp", "/dev/ttyUSB3")

    monkeypatch.setattr(ports, "_probe", probe)
    fake = [
        _port("/dev/ttyS0", None, None),
        _port("/dev/ttyUSB0", 0x10C4, 0xEA60, "Sonoff Zigbee 3.0 USB Dongle Plus"),  # ZBDongle-P: Z-Stack
        _port("/dev/ttyUSB1", 0x1A86, 0x55D4, "SONOFF Zigbee 3.0 USB Dongle Plus V2"),  # ZBDongle-E: EZSP
        _port("/dev/ttyUSB2", 0x10C4, 0xEA60, "SkyConnect v1.0"),  # EZSP although the bridge is the ZBDongle-P's
        _port("/dev/ttyUSB3", 0x10C4, 0xEA60, "CP2102N USB to UART Bridge Controller"),  # who knows: ask it
        _port("/dev/ttyACM0", 0x1CF1, 0x0030, "ConBee II"),
    ]
    monkeypatch.setattr(ports.list_ports, "comports", lambda: fake)
    assert await ports.find_stick_async("znp") == "/dev/ttyUSB0"
    assert await ports.find_stick_async("deconz") == "/dev/ttyACM0"
    assert probed == []  # named sticks need no probing
    assert await ports.find_stick_async("ezsp") == "/dev/ttyUSB1"
    monkeypatch.setattr(ports.list_ports, "comports", lambda: [fake[0], fake[3], fake[4]])
    assert await ports.find_stick_async("ezsp") == "/dev/ttyUSB2"
    monkeypatch.setattr(ports.list_ports, "comports", lambda: [fake[4]])
    assert await ports.find_stick_async("ezsp") == "/dev/ttyUSB3"
    assert await ports.find_stick_async("znp") is None  # probed as Z-Stack: it is not
    assert probed == [("ezsp", "/dev/ttyUSB3"), ("znp", "/dev/ttyUSB3")]
    assert [s.radio for s in ports.candidates(0x10C4, 0xEA60, "Home Assistant Connect ZBT-1")] == ["ezsp"]


def test_availability_clock() -> None:
    now = [0.0]
    av = Availability(mains_s=10, battery_s=100, clock=lambda: now[0])
    av.track("m", mains=True)
    av.track("b", mains=False)
    now[0] = 11
    assert av.expired() == ["m"]
    assert av.expired() == []  # reported once
    assert av.seen("m") is True and av.seen("m") is False
    now[0] = 102
    assert av.expired() == ["m", "b"]  # m was last heard at 11
    av.rebase()
    now[0] = 110
    assert av.expired() == []


def test_zone_ids_run_out_with_an_enrolment_error() -> None:
    assert enroll.free_zone_id(set()) == 0
    assert enroll.free_zone_id({0, 1, 3}) == 2
    assert enroll.free_zone_id(set(range(254))) == 0xFE  # the last one a CIE may hand out
    with pytest.raises(enroll.EnrollError, match="no free IAS zone id"):
        enroll.free_zone_id(set(range(255)))
    with pytest.raises(enroll.EnrollError):
        enroll.free_zone_id({-1, *range(255)})  # devices without a zone id do not free one


async def test_deadlines_fire_once_unless_disarmed() -> None:
    fired: list[str] = []
    deadlines = Deadlines()
    deadlines.arm("a", 0.05, lambda: fired.append("a"))
    deadlines.arm("b", 0.05, lambda: fired.append("b"))
    deadlines.arm("b", 0.15, lambda: fired.append("b again"))  # re-arming replaces the first timer
    deadlines.arm("c", 0.05, lambda: fired.append("c"))
    assert deadlines.disarm("c") is True and deadlines.disarm("c") is False
    await asyncio.sleep(0.1)
    assert fired == ["a"] and "a" not in deadlines and "b" in deadlines
    await asyncio.sleep(0.1)
    assert fired == ["a", "b again"]
    deadlines.arm("d", 0.01, lambda: fired.append("d"))
    deadlines.clear()
    await asyncio.sleep(0.05)
    assert fired == ["a", "b again"]


def test_permit_seconds_are_clamped() -> None:
    assert clamp_seconds(None) == 120 and clamp_seconds(0) == 120
    assert clamp_seconds(30) == 30 and clamp_seconds(255) == 254 and clamp_seconds(10_000) == 254


# -- the simulator's wire formats, cross-checked with zigpy-znp's independent definitions -------------
def test_sim_structs_match_zstack_layout() -> None:
    nib = nvram.default_nib()
    nib.update(nwkPanId=0x1234, nwkLogicalChannel=15, extendedPANID=bytes(range(8)), nwkKeyLoaded=1)
    parsed, rest = zt.NIB.deserialize(nvram.NIB_LAYOUT.pack(nib), align=True)
    assert rest == b"" and parsed.nwkPanId == 0x1234 and parsed.nwkLogicalChannel == 15
    assert parsed.extendedPANID.serialize() == bytes(range(8)) and parsed.nwkKeyLoaded
    assert nvram.ADDRMGR_LAYOUT.size == zt.AddrMgrEntry.get_size(align=True)
    assert nvram.TCLK_LAYOUT.size == zt.TCLKDevEntry.get_size(align=True)
    assert nvram.SEC_MATERIAL_LAYOUT.size == zt.NwkSecMaterialDesc.get_size(align=True)


@given(st.binary(max_size=300))
def test_frame_reader_survives_noise(noise: bytes) -> None:
    reader = FrameReader()
    good = Frame(CmdType.SREQ, 0x01, 0x01).encode()
    list(reader.feed(noise))
    # Whatever came before, good frames that follow are recovered (a bogus length swallows <= 255 bytes).
    frames = list(reader.feed(good * 60))
    assert frames[-1] == Frame(CmdType.SREQ, 0x01, 0x01, b"")
    assert len(frames) >= 60 - 52
