"""BTHome v2 test vectors: the specification's encryption example, and the spec's object encodings.

The packet builders live in :mod:`sims.bluez.packets` (the simulator uses them too); the
specification example below pins them (see test_units.test_spec_encryption_example).
"""

from __future__ import annotations

from sims.bluez.packets import (
    BUTTON_EVENTS,
    ENCRYPTED,
    PLAIN,
    battery,
    battery_low,
    button,
    buttons,
    carbon_monoxide,
    door,
    encrypted,
    garage_door,
    gas,
    moisture,
    motion,
    occupancy,
    opening,
    packet_id,
    plain,
    presence,
    problem,
    smoke,
    tamper,
    window,
)

# The specification's encryption example (bthome.io, "Encryption").
SPEC_KEY = "231d39c1d7cc1ab1aee224cd096db932"
SPEC_MAC = "54:48:E6:8F:80:A5"
SPEC_PLAIN = bytes.fromhex("02ca0903bf13")  # temperature 25.06 °C, humidity 50.55 %
SPEC_COUNTER = 0x33221100  # bytes 00 11 22 33 on air
SPEC_ENCRYPTED = bytes.fromhex("41a47266c95f730011223378237214")

PLAIN_SLEEPY = 0x44  # trigger based, e.g. Shelly BLU Button1
# Button event codes of object 0x3A, from the specification's event table.
NO_EVENT, PRESS, DOUBLE_PRESS, TRIPLE_PRESS, LONG_PRESS = 0x00, 0x01, 0x02, 0x03, 0x04
LONG_DOUBLE_PRESS, LONG_TRIPLE_PRESS, HOLD_PRESS = 0x05, 0x06, 0x80

__all__ = [
    "BUTTON_EVENTS",
    "ENCRYPTED",
    "PLAIN",
    "battery",
    "battery_low",
    "button",
    "buttons",
    "carbon_monoxide",
    "door",
    "encrypted",
    "garage_door",
    "gas",
    "moisture",
    "motion",
    "occupancy",
    "opening",
    "packet_id",
    "plain",
    "presence",
    "problem",
    "smoke",
    "tamper",
    "window",
]
