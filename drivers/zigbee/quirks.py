"""The community's device knowledge (zha-quirks), loaded for the families fbgw supports and nothing more.

``zhaquirks.setup()`` imports every vendor's quirks (hundreds of modules); the gateway runs on a small board,
so only the modules of the supported families are imported. Each quirk registers itself on import; the
resolver then turns an interviewed device into its quirked form (Tuya 0xEF00 data points become IAS Zone,
Occupancy and Power Configuration attributes; Xiaomi's 0xFF01 reports become battery readings...).
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: zha-quirks modules of the supported families (vendor folder -> the files that hold their quirks).
QUIRK_MODULES: tuple[str, ...] = (
    "zhaquirks.tuya.tuya_smoke",
    "zhaquirks.tuya.tuya_gas",
    "zhaquirks.tuya.tuya_contact",
    "zhaquirks.tuya.tuya_motion",
    "zhaquirks.xiaomi.aqara.magnet_aq2",
    "zhaquirks.xiaomi.aqara.wleak_aq1",
    "zhaquirks.xiaomi.aqara.motion_aq2",
    "zhaquirks.xiaomi.aqara.sensor_switch_aq3",
    "zhaquirks.xiaomi.mija.sensor_magnet",
    "zhaquirks.xiaomi.mija.motion",
    "zhaquirks.heiman.smoke",
    "zhaquirks.ikea.motion",
    "zhaquirks.philips.motion",
    "zhaquirks.sonoff.button",
)

#: fbgw's own quirks (zha-quirks' Tuya builder) for supported devices zha-quirks has none for yet.
OWN_QUIRK_MODULES: tuple[str, ...] = ("drivers.zigbee.tuya_quirks",)

Resolver = Callable[[Any], Any]


@functools.cache
def resolver() -> Resolver:
    """Import the supported quirk modules once and return the resolver zigpy applies to every device.

    The resolver takes a freshly interviewed (or loaded) zigpy device and returns it quirked, or unchanged when no
    quirk matches.
    """
    import zha.quirks
    import zhaquirks

    for name in QUIRK_MODULES + OWN_QUIRK_MODULES:
        importlib.import_module(name)
    # zha-quirks queues its v1 (signature-class) quirks on import and moves them into the registry in setup();
    # this is that step without importing every other vendor's modules.
    zhaquirks._register_pending_quirks()  # noqa: SLF001 - the library has no public call short of setup()
    log.debug("zigbee: %d quirk modules loaded", len(QUIRK_MODULES) + len(OWN_QUIRK_MODULES))
    return zha.quirks.DEVICE_REGISTRY.resolve


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
