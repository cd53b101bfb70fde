"""THE table: standard ZCL clusters (as a device has them after its quirk is applied) -> fbgw capabilities.

Vendors' own formats never appear here: zha-quirks turns Tuya 0xEF00 data points, Xiaomi 0xFF01/0x00F7
reports and the like into these standard clusters (see :mod:`.quirks`). What a device reports, what type it is,
and the supported-devices page (:mod:`.supported`) are all derived from this one table.

A rule is keyed by (cluster id, side): ``server`` is an input cluster of the device (it reports attributes, as a
sensor does), ``client`` an output cluster (it sends commands, as a remote does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Side = Literal["server", "client"]

POWER_CFG, ON_OFF, MULTISTATE_INPUT, OCCUPANCY = 0x0001, 0x0006, 0x0012, 0x0406
IAS_ZONE, IAS_ACE, IAS_WD, TUYA_DP = 0x0500, 0x0501, 0x0502, 0xEF00
BATTERY_VOLTAGE, BATTERY_PERCENT = 0x0020, 0x0021
ZONE_STATUS, ZONE_TYPE = 0x0002, 0x0001

#: Voltage (in volts) read as empty and as full, for devices that report only voltage (CR2032/2xAA).
VOLTS_EMPTY, VOLTS_FULL = 2.1, 3.0

#: Simple-descriptor device types that tell what a device with only an On/Off client is (else: a remote).
ON_OFF_CLIENT_HINTS: Mapping[int, tuple[str, str]] = {
    0x0850: ("motion", "motion"),  # ZLL on/off sensor: IKEA TRADFRI motion sends "on with timed off"
    0x0107: ("motion", "motion"),  # HA occupancy sensor
    0x5F01: ("door", "contact"),  # Xiaomi open/close (zha-quirks OPEN_CLOSE_DEVICE_TYPE): reports on_off
}


@dataclass(frozen=True)
class ZoneKind:
    """What an IAS zone type is in fbgw terms: device type, the capability its alarm bits drive, and the
    reading values for "alarm" and "no alarm" (None: nothing is reported, e.g. a button has no release)."""

    device_type: str
    capability: str
    on: Any = True
    off: Any = False
    name: str = ""


Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class Rule:
    """How one cluster on one side becomes readings.

    ``attributes``: attribute id -> (capability, converter; the converter returns None for "nothing to report").
    ``commands``: command id -> (capability, value, gesture or None). ``events``: names of the events a quirk
    raises on the cluster (``zha_send_event``) -> gesture, for buttons whose quirk decodes the press.
    ``device_type`` is what a device with this cluster is (None: the cluster only adds to another's readings).
    """

    name: str
    device_type: str | None = None
    reports: tuple[str, ...] = ()
    attributes: Mapping[int, tuple[str, Convert]] = field(default_factory=dict)
    commands: Mapping[int, tuple[str, Any, str | None]] = field(default_factory=dict)
    events: Mapping[str, str] = field(default_factory=dict)


def _percent_from_half(raw: Any) -> int | None:
    raw = int(raw)
    return None if raw == 0xFF else max(0, min(100, round(raw / 2)))


def _percent_from_decivolts(raw: Any) -> int | None:
    raw = int(raw)
    if raw in (0, 0xFF):
        return None
    frac = (raw / 10 - VOLTS_EMPTY) / (VOLTS_FULL - VOLTS_EMPTY)
    return max(0, min(100, round(frac * 100)))


def _motion(raw: Any) -> bool:
    return bool(int(raw) & 0x01)  # as an IAS motion zone: true on motion, false when it clears


def _contact(raw: Any) -> str:
    return "open" if raw else "closed"


#: IAS zone type (ZCL 8.2.2.2.1.2) -> meaning. Part of the IAS Zone rule below.
ZONE_TYPES: Mapping[int, ZoneKind] = {
    0x000D: ZoneKind("motion", "motion", name="motion sensor"),
    0x0015: ZoneKind("door", "contact", "open", "closed", name="contact switch"),
    0x0016: ZoneKind("door", "contact", "open", "closed", name="door/window handle"),
    0x0028: ZoneKind("smoke", "smoke", name="fire sensor"),
    0x002A: ZoneKind("leak", "leak", name="water sensor"),
    0x002B: ZoneKind("gas", "gas", name="gas / CO sensor"),  # carbon monoxide; combustible gas sensors use it too
    0x002C: ZoneKind("call_button", "press", True, None, name="personal emergency device"),
    0x010F: ZoneKind("call_button", "press", True, None, name="remote control"),
    0x0115: ZoneKind("call_button", "press", True, None, name="keyfob"),
}

#: Gestures of a button, as quirks name the events they raise (zha-quirks' COMMAND_* names) -> fbgw's name.
GESTURES: Mapping[str, str] = {
    "single": "single",
    "double": "double",
    "triple": "triple",
    "hold": "long",
    "long_press": "long",
}

#: ZCL names of the On/Off commands a remote sends (what quirks' device automation triggers refer to).
ON_OFF_COMMANDS: Mapping[int, str] = {0x00: "off", 0x01: "on", 0x02: "toggle"}

#: The one table: (cluster, side) -> rule.
TABLE: Mapping[tuple[int, Side], Rule] = {
    (IAS_ZONE, "server"): Rule(
        "IAS Zone",
        reports=("tamper", "battery_low", "trouble"),  # + the zone type's capability (ZONE_TYPES)
    ),
    (OCCUPANCY, "server"): Rule(
        "Occupancy Sensing",
        device_type="motion",
        reports=("motion",),
        attributes={0x0000: ("motion", _motion)},
    ),
    (MULTISTATE_INPUT, "server"): Rule(
        "Multistate Input (Xiaomi/Aqara button clicks)",
        device_type="call_button",
        reports=("press",),
        events=GESTURES,
    ),
    (IAS_ACE, "client"): Rule(
        "IAS ACE (SOS / panic keypad)",
        device_type="call_button",
        reports=("press",),
        commands={
            0x02: ("press", True, "emergency"),
            0x04: ("press", True, "panic"),
            0x03: ("smoke", True, None),  # fire
        },
    ),
    (ON_OFF, "client"): Rule(
        "On/Off commands (remote, button, motion)",
        device_type="remote",
        reports=("press",),
        attributes={0x0000: ("contact", _contact)},  # Xiaomi magnets: their quirk moves On/Off to the client side
        commands={
            0x02: ("press", True, "single"),  # toggle
            0x01: ("press", True, "on"),
            0x00: ("press", True, "off"),
            0x42: ("motion", True, None),  # on with timed off: IKEA TRADFRI motion sensor
        },
    ),
    (POWER_CFG, "server"): Rule(
        "Power Configuration",
        reports=("battery",),
        attributes={
            BATTERY_PERCENT: ("battery", _percent_from_half),
            BATTERY_VOLTAGE: ("battery", _percent_from_decivolts),
        },
    ),
    (IAS_WD, "server"): Rule("IAS WD (siren: local feedback, sounded by the gateway)", device_type="siren"),
}

#: A device is paired when it has at least one of these (the clusters that raise something).
PRIMARY = tuple(key for key, rule in TABLE.items() if key[0] in (IAS_ZONE,) or rule.device_type is not None)


def zone_kind(zone_type: int | None) -> ZoneKind | None:
    return ZONE_TYPES.get(zone_type) if zone_type is not None else None


def source_name(key: tuple[int, Side]) -> str:
    return f"0x{key[0]:04x}/{key[1]}"


def describe(key: tuple[int, Side]) -> str:
    rule = TABLE[key]
    return f"{rule.name} (0x{key[0]:04X} {key[1]})"


@dataclass(frozen=True)
class Profile:
    """What the table makes of a device: its type and capabilities (in reporting order)."""

    device_type: str
    capabilities: tuple[str, ...]
    sources: tuple[tuple[int, Side], ...]


def profile(
    clusters: set[tuple[int, Side]],
    *,
    zone_type: int | None = None,
    mains: bool = False,
    simple_type: int | None = None,
) -> Profile | None:
    """The device type and capabilities of a device with ``clusters``; None when none of them raises anything.

    ``zone_type`` is its IAS zone type (when it has an IAS Zone), ``simple_type`` its simple descriptor's device
    type (tells an IKEA motion sensor from a remote: both only send On/Off commands).
    """
    caps: list[str] = []
    device_type: str | None = None
    sources: list[tuple[int, Side]] = []
    kind = zone_kind(zone_type) if (IAS_ZONE, "server") in clusters else None
    if kind is not None:
        device_type = kind.device_type
        caps.append(kind.capability)
        sources.append((IAS_ZONE, "server"))
    for key, rule in TABLE.items():
        if key not in clusters or key == (IAS_ZONE, "server"):
            continue
        reports, own_type = rule.reports, rule.device_type
        hint = ON_OFF_CLIENT_HINTS.get(simple_type) if simple_type is not None else None
        if key == (ON_OFF, "client") and hint is not None:
            if device_type is not None:
                continue  # the device is something else already (an Aqara button also has an On/Off client)
            own_type, capability = hint
            reports = (capability,)
        if own_type is not None:
            if device_type is None:
                device_type = own_type
            elif any(c in caps for c in reports) and reports != ("press",):
                continue  # another cluster already reports this state (Aqara motion: IAS Zone and Occupancy)
        caps.extend(c for c in reports if c not in caps)
        sources.append(key)
    if device_type is None:
        return None
    if (IAS_ZONE, "server") in clusters:
        caps.extend(c for c in TABLE[(IAS_ZONE, "server")].reports if c not in caps)
        if mains:
            caps.append("mains_fault")
    return Profile(device_type, tuple(caps), tuple(sources))


def missing_reason(clusters: set[tuple[int, Side]], zone_type: int | None, manufacturer: str, model: str) -> str:
    """Why a device cannot be paired, naming what it lacks (shown to the technician)."""
    what = f"{manufacturer or '?'} {model or '?'}".strip()
    if (TUYA_DP, "server") in clusters:
        return (
            f"{what}: Tuya data-point device (cluster 0xEF00) with no device-library quirk for this "
            "manufacturer/model, so its data points cannot be read; not supported"
        )
    if (IAS_ZONE, "server") in clusters and zone_kind(zone_type) is None:
        zt = "unknown" if zone_type is None else f"0x{zone_type:04X}"
        return (
            f"{what}: IAS zone type {zt} is not one fbgw understands (known: "
            + ", ".join(f"0x{z:04X} {k.name}" for z, k in ZONE_TYPES.items())
            + ")"
        )
    have = ", ".join(f"0x{c:04X} {s}" for c, s in sorted(clusters)) or "none"
    need = ", ".join(describe(k) for k in PRIMARY)
    return f"{what}: no supported cluster (device has {have}); needs one of: {need}"


def attribute_reading(key: tuple[int, Side], attr: int, value: Any) -> tuple[str, Any] | None:
    """(capability, value) for an attribute update, None when it is nothing to report."""
    rule = TABLE.get(key)
    entry = rule.attributes.get(attr) if rule is not None else None
    if entry is None or value is None:
        return None
    try:
        converted = entry[1](value)
    except (TypeError, ValueError):
        return None
    return None if converted is None else (entry[0], converted)


def command_reading(key: tuple[int, Side], command: int) -> tuple[str, Any, str | None] | None:
    rule = TABLE.get(key)
    return rule.commands.get(command) if rule is not None else None


def event_gesture(key: tuple[int, Side], event: str) -> str | None:
    rule = TABLE.get(key)
    return rule.events.get(event) if rule is not None else None
