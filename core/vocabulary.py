"""The words every part of the gateway shares: capabilities, device types, and what a valid value looks like.

Drivers map their devices onto these capability names; the rules turn them into events; every edge that takes
readings from outside checks values with :data:`VALUE_CHECKS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# One capability vocabulary for every driver. Drivers map their devices onto these names.
CAPABILITIES: Mapping[str, str] = {
    "press": "call button / pull cord pressed (value true)",
    "release": "call button / pull cord let go (value true; meta held_ms); a state, never an alarm",
    "contact": 'door/window contact, "open" or "closed"',
    "motion": "motion sensed (value true)",
    "smoke": "smoke detected (true) or cleared (false)",
    "gas": "gas / CO detected (true) or cleared (false)",
    "leak": "water leak detected (true) or cleared (false)",
    "wet": "urine-wet pad wet (true) or dry (false)",
    "in_bed": "occupant in bed (true) or out of bed (false)",
    "heart_rate": "heart rate, beats per minute",
    "breath_rate": "breathing rate, breaths per minute",
    "battery": "battery level, percent",
    "tamper": "enclosure opened / wire cut (true) or restored (false)",
    "battery_low": "device reports its battery low (true) or fine (false)",
    "trouble": "device reports a fault/trouble condition (true) or cleared (false)",
    "mains_fault": "device reports AC mains lost (true) or restored (false)",
    "mains_lost": "the gateway's own mains supply lost (true) or back (false): a UPS HAT or power-detect line",
    "checkin": "the elder's care button ('I am fine', medicine taken) pressed (value true); never an alarm",
    "beacon": "a caregiver's badge / tag seen nearby (value true)",
    "install": "the installer's button (true); a long press (meta event=long_press) opens the install window",
    "needs_readoption": "the device must be adopted again before it is heard (true; e.g. its encryption counter "
    "restarted after a battery change, so its presses are refused)",
}

#: Conditions a driver detects about any device, whatever its type: taken even if the device's own
#: capability list (stored when it was adopted) does not name them.
ANY_DEVICE_CAPABILITIES = frozenset({"needs_readoption"})

#: Capabilities whose true value is an immediate alarm.
ALARM_CAPABILITIES = frozenset({"press", "smoke", "gas", "leak"})

#: Device types, the ``type`` field of a device. Free-form beyond these, but these are understood everywhere.
DEVICE_TYPES = (
    "call_button",
    "pull_cord",
    "door",
    "motion",
    "smoke",
    "gas",
    "leak",
    "wet_pad",
    "mattress",
    "heart_rate",
)

ValueCheck = Callable[[Any], bool]

#: What a valid value looks like for each capability (used at every edge that takes readings from outside).
VALUE_CHECKS: Mapping[str, ValueCheck] = {
    "press": lambda v: v is True,
    "release": lambda v: v is True,
    "contact": lambda v: v in ("open", "closed"),
    "motion": lambda v: v is True,
    "smoke": lambda v: isinstance(v, bool),
    "gas": lambda v: isinstance(v, bool),
    "leak": lambda v: isinstance(v, bool),
    "wet": lambda v: isinstance(v, bool),
    "in_bed": lambda v: isinstance(v, bool),
    "heart_rate": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 300,
    "breath_rate": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 120,
    "battery": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 100,
    "tamper": lambda v: isinstance(v, bool),
    "battery_low": lambda v: isinstance(v, bool),
    "trouble": lambda v: isinstance(v, bool),
    "mains_fault": lambda v: isinstance(v, bool),
    "mains_lost": lambda v: isinstance(v, bool),
    "checkin": lambda v: v is True,
    "beacon": lambda v: v is True,
    "install": lambda v: v is True,
    "needs_readoption": lambda v: v is True,
}
