"""The Zigbee device families fbgw supports, as rows of ``docs/devices.md`` (``python -m gateway.tools.devices_doc``).

Each family names the standard clusters it has once its quirk is applied; what it reports and what type it becomes
come from the one mapping table (:mod:`.mapping`), the same code the driver pairs devices with. The tests pair each
family's published signature through the simulator and check the result against its row.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base import SupportedDevice
from drivers.zigbee import mapping

S: mapping.Side = "server"
C: mapping.Side = "client"

TUYA_PAIR = "open pairing on the page, then hold the reset button about 5 s until the LED blinks fast"
XIAOMI_PAIR = (
    "open pairing, hold the reset button about 5 s until the LED blinks, then press it about once a second "
    "until the page says ready (the sensor falls asleep during the interview otherwise)"
)
HEIMAN_PAIR = "open pairing, then hold the test/pair button about 5 s until the LED blinks"
IKEA_PAIR = "open pairing, then press the pair button under the cover 4 times quickly"
HUE_PAIR = "open pairing, then hold the setup button on the back until the LED blinks orange"
SONOFF_PAIR = "open pairing, then hold the button about 5 s until the LED blinks 3 times"


@dataclass(frozen=True)
class Family:
    """A device family: the standard clusters its (quirked) device has, and how it is paired."""

    vendor: str
    models: tuple[str, ...]
    clusters: frozenset[tuple[int, mapping.Side]]
    pairing: str
    zone_type: int | None = None
    simple_type: int | None = None
    mains: bool = False
    note: str = ""

    def row(self) -> SupportedDevice:
        found = mapping.profile(
            set(self.clusters), zone_type=self.zone_type, mains=self.mains, simple_type=self.simple_type
        )
        if found is None:  # a table edit that drops a family must fail loudly, not vanish from the page
            raise ValueError(f"{self.vendor} {self.models}: the mapping table no longer supports it")
        pairing = self.pairing + (f" ({self.note})" if self.note else "")
        return SupportedDevice("zigbee", self.vendor, self.models, found.device_type, found.capabilities, pairing)


Key = tuple[int, mapping.Side]
IAS: Key = (mapping.IAS_ZONE, S)
PWR: Key = (mapping.POWER_CFG, S)
OCC: Key = (mapping.OCCUPANCY, S)
ONOFF_C: Key = (mapping.ON_OFF, C)
ACE: Key = (mapping.IAS_ACE, C)
WD: Key = (mapping.IAS_WD, S)
MSI: Key = (mapping.MULTISTATE_INPUT, S)


def _f(*keys: tuple[int, mapping.Side]) -> frozenset[tuple[int, mapping.Side]]:
    return frozenset(keys)


FAMILIES: tuple[Family, ...] = (
    Family(
        "Tuya",
        ("TS0601 _TZE284_n4ttsck2", "TS0601 _TZE200_aycxwiau"),
        _f(IAS, PWR),
        TUYA_PAIR,
        0x0028,
        note="smoke; data points 1 and 15",
    ),
    Family(
        "Tuya",
        ("TS0601 _TZE200_hr0tdd47", "TS0601 _TZE204_qvxrkeif"),
        _f(IAS, PWR),
        TUYA_PAIR,
        0x002B,
        note="combustible gas / CO",
    ),
    Family(
        "Tuya",
        ("TS0601 _TZE200_pay2byax", "TS0601 _TZE200_kzm5w4iz"),
        _f(IAS, PWR),
        TUYA_PAIR,
        0x0015,
        note="door/window",
    ),
    Family("Tuya", ("TS0601 _TZE200_gjldowol",), _f(OCC, PWR), TUYA_PAIR, note="PIR motion"),
    Family(
        "Tuya",
        ("TS0207 _TZ3000_upgcbody",),
        _f(IAS, PWR),
        TUYA_PAIR,
        0x002A,
        note="water leak; standard IAS Zone, no quirk needed",
    ),
    Family(
        "Tuya",
        ("TS0601 _TZE200_qq9mpfhw", "TS0601 _TZE200_jthf7vb6"),
        _f(IAS, PWR),
        TUYA_PAIR,
        0x002A,
        note="water leak (Neo NAS-WS02B0, WLS-100z); fbgw's own quirks, data points 101/102 and 1/4",
    ),
    Family(
        "Tuya",
        ("TS0601 _TZE284_2baujqot",),
        _f(IAS, PWR),
        TUYA_PAIR,
        0x002C,
        note="SOS button; fbgw's own quirk, data point 23 (a press, no release) and 3 (battery)",
    ),
    Family(
        "Tuya",
        ("TS0601 _TZE200_nojsjtj2",),
        _f(IAS),
        TUYA_PAIR,
        0x002C,
        note="SOS button for elderly emergency help; fbgw's own quirk, data point 26 or 29 (a press, no release); "
        "it reports no battery",
    ),
    Family(
        "Tuya",
        ("TS0215A _TZ3000_4fsgukof",),
        _f(IAS, ACE, PWR),
        TUYA_PAIR,
        0x002C,
        note="SOS button; IAS ACE emergency",
    ),
    Family(
        "Xiaomi / Aqara",
        ("lumi.sensor_magnet.aq2", "lumi.sensor_magnet"),
        _f(ONOFF_C, PWR),
        XIAOMI_PAIR,
        simple_type=0x5F01,
        note="door/window; battery from Xiaomi's 0xFF01 report",
    ),
    Family("Xiaomi / Aqara", ("lumi.sensor_wleak.aq1",), _f(IAS, PWR), XIAOMI_PAIR, 0x002A, note="water leak"),
    Family(
        "Xiaomi / Aqara",
        ("lumi.sensor_motion.aq2", "lumi.sensor_motion"),
        _f(IAS, OCC, PWR),
        XIAOMI_PAIR,
        0x000D,
        note="motion",
    ),
    Family(
        "Xiaomi / Aqara",
        ("lumi.sensor_switch.aq3", "lumi.remote.b1acn01"),
        _f(MSI, ONOFF_C, PWR),
        XIAOMI_PAIR,
        note="button: single, double and long press reach the event as gesture",
    ),
    Family("HEIMAN", ("SmokeSensor-EM", "SMOK_V16"), _f(IAS, PWR, WD), HEIMAN_PAIR, 0x0028, note="smoke"),
    Family(
        "HEIMAN",
        ("GASSensor-EM", "GASSensor-N"),
        _f(IAS, WD),
        HEIMAN_PAIR,
        0x002B,
        mains=True,
        note="combustible gas, mains powered",
    ),
    Family("HEIMAN", ("WaterSensor-EM", "WaterSensor-N"), _f(IAS, PWR), HEIMAN_PAIR, 0x002A, note="water leak"),
    Family("HEIMAN", ("DoorSensor-EM", "DoorSensor-N"), _f(IAS, PWR), HEIMAN_PAIR, 0x0015, note="door/window"),
    Family("HEIMAN", ("SOS-EM",), _f(IAS, PWR), HEIMAN_PAIR, 0x002C, note="personal emergency button"),
    Family(
        "HEIMAN",
        ("WarningDevice (HS2WD-E)",),
        _f(IAS, WD),
        HEIMAN_PAIR,
        0x0225,
        mains=True,
        note="siren; sounded by the gateway as local feedback",
    ),
    Family("IKEA", ("TRADFRI motion sensor",), _f(ONOFF_C, PWR), IKEA_PAIR, simple_type=0x0850, note="motion"),
    Family(
        "Philips Hue",
        ("SML001", "SML002"),
        _f(OCC, ONOFF_C, PWR),
        HUE_PAIR,
        simple_type=0x0107,
        note="motion (Occupancy Sensing)",
    ),
    Family(
        "Sonoff / eWeLink",
        ("WB01 (SNZB-01)", "SNZB-01P"),
        _f(ONOFF_C, PWR),
        SONOFF_PAIR,
        note="generic On/Off remote: a press is a call only where the technician sets press_is_call",
    ),
)

SUPPORTED: list[SupportedDevice] = [family.row() for family in FAMILIES]
