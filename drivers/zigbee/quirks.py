"""The community's device knowledge (zha-quirks), loaded for the families fbgw supports and nothing more.

``zhaquirks.setup()`` imports every vendor's quirks (hundreds of modules); the gateway runs on a small board,
so only the modules of the supported families are imported, and a vendor's only once a device of it is known
or pairing is open. Each quirk registers itself on import; the
resolver then turns an interviewed device into its quirked form (Tuya 0xEF00 data points become IAS Zone,
Occupancy and Power Configuration attributes; Xiaomi's 0xFF01 reports become battery readings...).
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

#: fbgw's own quirks (zha-quirks' Tuya builder) for supported devices zha-quirks has none for yet.
OWN_QUIRK_MODULES: tuple[str, ...] = ("drivers.zigbee.tuya_quirks",)

#: The quirk modules of the supported families (zha-quirks' and fbgw's own), by vendor: the manufacturer names
#: (prefixes) its devices report, and the modules that hold its quirks.
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tuya": (
        ("_TZ", "TZE", "_TYST11_", "HOBEIAN"),  # white-label names; one registered without its leading "_"
        (
            "zhaquirks.tuya.tuya_smoke",
            "zhaquirks.tuya.tuya_gas",
            "zhaquirks.tuya.tuya_contact",
            "zhaquirks.tuya.tuya_motion",
            *OWN_QUIRK_MODULES,
        ),
    ),
    "xiaomi": (
        ("LUMI",),
        (
            "zhaquirks.xiaomi.aqara.magnet_aq2",
            "zhaquirks.xiaomi.aqara.wleak_aq1",
            "zhaquirks.xiaomi.aqara.motion_aq2",
            "zhaquirks.xiaomi.aqara.sensor_switch_aq3",
            "zhaquirks.xiaomi.mija.sensor_magnet",
            "zhaquirks.xiaomi.mija.motion",
        ),
    ),
    "heiman": (("HEIMAN", "Heiman"), ("zhaquirks.heiman.smoke",)),
    "ikea": (("IKEA of Sweden",), ("zhaquirks.ikea.motion",)),
    "philips": (("Philips", "Signify Netherlands B.V."), ("zhaquirks.philips.motion",)),
    "sonoff": (("eWeLink", "SONOFF"), ("zhaquirks.sonoff.button",)),
}
QUIRK_MODULES: tuple[str, ...] = tuple(module for _, modules in FAMILIES.values() for module in modules)


def families_of(manufacturer: str | None) -> set[str]:
    """The vendors whose quirks may apply to a device reporting ``manufacturer``. A quirk applies only to the
    manufacturer names it registers (the tests check that each family's prefixes cover every name its modules
    register), so a device not interviewed yet, the coordinator and other makes need none."""
    if manufacturer is None:
        return set()
    return {name for name, (prefixes, _) in FAMILIES.items() if manufacturer.startswith(prefixes)}


class DeviceLibrary:
    """The supported families' quirks, each vendor's imported only when a device of it is known or may join.

    Importing a vendor costs memory and time: Tuya's and Sonoff's quirks (quirks v2) pull in the whole ``zha``
    application package, which imports every radio library zha knows (bellows, deCONZ, XBee, ZiGate, Ziggurat):
    about 17 MB and half a second here. A home with none of their devices does without. Loading is blocking: call
    :meth:`load` in a thread; :meth:`resolve` (called by zigpy on the event loop) loads only what was missed.
    """

    def __init__(self) -> None:
        self.loaded: set[str] = set()
        self._lock = threading.Lock()

    def load(self, families: set[str]) -> None:
        """Import the quirks of ``families`` (those not loaded yet) and register them."""
        with self._lock:
            missing = families - self.loaded
            if not missing:
                return
            import zhaquirks

            for family in sorted(missing):
                for name in FAMILIES[family][1]:
                    importlib.import_module(name)
            # zha-quirks queues its v1 (signature-class) quirks on import and moves them into the registry in
            # setup(); this is that step without importing every other vendor's modules.
            zhaquirks._register_pending_quirks()  # noqa: SLF001 - the library has no public call short of setup()
            self.loaded |= missing
            log.debug("zigbee: quirks of %s loaded", ", ".join(sorted(missing)))

    def load_for(self, manufacturers: Iterable[str | None]) -> None:
        """Import the quirks that may apply to devices reporting these manufacturers (blocking)."""
        self.load(set().union(*(families_of(m) for m in manufacturers)))

    def load_all(self) -> None:
        """Import every supported family's quirks (a device of any of them may join; blocking)."""
        self.load(set(FAMILIES))

    def resolve(self, zdev: Any) -> Any:
        """zigpy's device resolver: ``zdev`` quirked, or unchanged when no quirk matches."""
        import zha.quirks

        self.load(families_of(getattr(zdev, "manufacturer", None)))
        return zha.quirks.DEVICE_REGISTRY.resolve(zdev)


@functools.cache
def library() -> DeviceLibrary:
    """The process's one device library (quirks register themselves process-wide on import)."""
    return DeviceLibrary()


def quirk_name(zdev: Any) -> str | None:
    """Which quirk was applied to ``zdev`` (its module and class), for the technician and the logs."""
    import zha.quirks

    entry = getattr(zdev, zha.quirks.QUIRK_REGISTRY_ENTRY_ATTR, None)
    source = getattr(entry, "source", None)
    if source is None:
        return None
    return f"{source.module}:{source.label}"


#: zha-quirks' device automation trigger types -> fbgw's gesture names.
TRIGGER_GESTURES = {
    "remote_button_short_press": "single",
    "remote_button_double_press": "double",
    "remote_button_triple_press": "triple",
    "remote_button_long_press": "long",
}


def gesture_of(zdev: Any, command: str, endpoint: int) -> tuple[str, str] | None:
    """(gesture, button) for a command a remote sent, from its quirk's device automation triggers; None if it
    has none for that command (e.g. Sonoff SNZB-01: toggle = single, on = double, off = long press)."""
    triggers = getattr(zdev, "device_automation_triggers", None) or {}
    for (trigger, subtype), spec in triggers.items():
        if spec.get("command") != command or spec.get("endpoint_id", endpoint) != endpoint:
            continue
        gesture = TRIGGER_GESTURES.get(trigger)
        if gesture is not None:
            return gesture, str(subtype)
    return None
