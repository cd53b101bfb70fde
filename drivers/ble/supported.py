"""The BLE device families the gateway supports, derived from the driver's own tables (docs/devices.md).

* BTHome v2: one row per device type a BTHome advert can be told apart as (``KIND_GUESS``), reporting
  what :data:`~drivers.ble.capabilities.CAPABILITIES` makes of those keys plus the generic objects the
  type takes; Shelly BLU models are named where the driver recognises their advertised name.
* Xiaomi MiBeacon: one row per vendor and device type of :data:`~drivers.ble.mibeacon.XIAOMI_MODELS`.
* GATT profiles: one row per profile in :data:`~drivers.ble.profiles.PROFILES`.
"""

from __future__ import annotations

from collections import defaultdict

from drivers.base import SupportedDevice
from drivers.ble.capabilities import KIND_GUESS, TYPE_OVERRIDES, capabilities_of
from drivers.ble.config import GENERIC_CAPABILITIES, TYPE_CAPABILITIES
from drivers.ble.mibeacon import XIAOMI_MODELS
from drivers.ble.pairing import NAME_KINDS
from drivers.ble.profiles import PROFILES

_BTHOME_PAIRING = (
    "Open BLE pairing on the technician page, press the device's button so it advertises, pick it from the "
    "list; give its bindkey (32 hexadecimal digits) if it encrypts. BTHome v1 firmware is refused: update it."
)
_XIAOMI_PAIRING = (
    "Read its bindkey from the Mi Home account it was bound to (32 hexadecimal digits); open BLE pairing, "
    "press its button (or open the door, walk past) so it advertises, pick it and give the bindkey. "
    "Models that advertise in the clear need none."
)
_GATT_PAIRING = "Open BLE pairing, wake the device, pick it from the list: the gateway keeps it connected."

_SHELLY = {"SBBT": "Shelly BLU Button1", "SBDW": "Shelly BLU Door/Window", "SBMO": "Shelly BLU Motion"}


def _ordered(caps: set[str], device_type: str) -> tuple[str, ...]:
    return tuple(c for c in TYPE_CAPABILITIES[device_type] if c in caps)


def _bthome() -> list[SupportedDevice]:
    keys_by_type: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for key, device_type in KIND_GUESS.items():
        keys_by_type[device_type].add(key)
    for (device_type, base), entry in TYPE_OVERRIDES.items():  # a key that means something else on a type
        if entry is not None:
            keys_by_type[device_type] |= {k for k in KIND_GUESS if k[1] == base}
    rows = []
    for device_type, keys in keys_by_type.items():
        overridden = [TYPE_OVERRIDES.get((device_type, k[1])) for k in keys]
        reports = {e[0] for e in overridden if e is not None} or set(capabilities_of(keys))
        reports |= GENERIC_CAPABILITIES
        models = tuple(_SHELLY[p] for p, kind in NAME_KINDS.items() if kind == device_type)
        rows.append(
            SupportedDevice(
                "ble",
                "BTHome v2",
                (*models, f"any BTHome v2 {device_type.replace('_', ' ')}"),
                device_type,
                _ordered(reports, device_type),
                _BTHOME_PAIRING,
            )
        )
    return rows


def _xiaomi() -> list[SupportedDevice]:
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    reports: dict[tuple[str, str], set[str]] = defaultdict(set)
    for model, entry in XIAOMI_MODELS.items():
        group = (entry.vendor, entry.device_type)
        groups[group].append(f"{model} ({entry.name})")
        reports[group] |= set(capabilities_of(entry.keys))
    return [
        SupportedDevice(
            "ble",
            f"{vendor} (MiBeacon)",
            tuple(models),
            device_type,
            _ordered(reports[(vendor, device_type)], device_type),
            _XIAOMI_PAIRING,
        )
        for (vendor, device_type), models in groups.items()
    ]


def _gatt() -> list[SupportedDevice]:
    return [
        SupportedDevice(
            "ble",
            "any (Bluetooth SIG Heart Rate Service)" if p.name == "heart_rate" else "bed sensor pad (fbgw profile)",
            (f"GATT service {p.service_uuid}",),
            p.device_type,
            p.capabilities,
            _GATT_PAIRING,
        )
        for p in PROFILES.values()
    ]


#: Every BLE family, for docs/devices.md.
SUPPORTED: list[SupportedDevice] = [*_bthome(), *_xiaomi(), *_gatt()]
