"""The 433 MHz device families this driver knows (rows of docs/devices.md), from its own kind table."""

from __future__ import annotations

from drivers.base import SupportedDevice
from drivers.rf433.config import KINDS

_MODELS = {
    "call_button": ("EV1527/PT2262 433 MHz emergency pendant / wall button",),
    "pull_cord": ("EV1527/PT2262 433 MHz bathroom pull cord",),
    "door": ("EV1527 433 MHz door/window contact (separate open/closed data bits)",),
    "smoke": ("EV1527 433 MHz stand-alone smoke alarm with RF output",),
}
_PAIRING = {
    "call_button": "open pairing, press the button, add the code heard as a call button",
    "pull_cord": "open pairing, pull the cord, add the code heard as a pull cord",
    "door": "open pairing, open the door, add the code heard as a door (open/closed data bits if not A/E)",
    "smoke": "open pairing, press the sensor's test button, add the code heard as smoke",
}

SUPPORTED: list[SupportedDevice] = [
    SupportedDevice("rf433", "generic", _MODELS[kind], spec.device_type, spec.capabilities, _PAIRING[kind])
    for kind, spec in KINDS.items()
]
