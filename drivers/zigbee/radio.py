"""The radio library as a config choice: zigpy-znp (TI Z-Stack) or bellows (Silicon Labs EZSP).

Both give a zigpy ``ControllerApplication``; we subclass it once per library to see every received
packet (``packet_tap``) before zigpy routes it: fbgw's own IAS logic and last-seen bookkeeping hook in there.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import zigpy.application
import zigpy.types

RADIO_MODULES = {
    "znp": "zigpy_znp.zigbee.application",
    "ezsp": "bellows.zigbee.application",
    "deconz": "zigpy_deconz.zigbee.application",
}

PacketTap = Callable[[zigpy.types.ZigbeePacket], None]


@functools.cache
def _tapped(
    base: type[zigpy.application.ControllerApplication],
) -> type[zigpy.application.ControllerApplication]:
    class Tapped(base):  # type: ignore[misc, valid-type]
        """``base`` that shows every received packet to ``packet_tap`` first (the tap must not raise)."""

        packet_tap: PacketTap | None = None

        def packet_received(self, packet: zigpy.types.ZigbeePacket) -> None:
            if self.packet_tap is not None:
                self.packet_tap(packet)
            super().packet_received(packet)

    Tapped.__name__ = Tapped.__qualname__ = f"Tapped{base.__module__.split('.')[0]}App"
    return Tapped


def app_class(radio: str) -> type[zigpy.application.ControllerApplication]:
    """The (tapped) ControllerApplication class of ``radio`` ("znp" or "ezsp")."""
    module = importlib.import_module(RADIO_MODULES[radio])
    return _tapped(module.ControllerApplication)


def validated_config(radio: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` checked and completed with defaults by the radio library's own schema."""
    return dict(app_class(radio).SCHEMA(config))
