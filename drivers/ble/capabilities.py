"""Parser output -> capability values: the ONE table for every advertising BLE family.

``bthome-ble`` and ``xiaomi-ble`` both describe what an advert said with the same ``sensor_state_data``
keys (binary ``opening``, ``motion``, ``moisture``, sensor ``battery``, event ``button``...), so one table
maps both. A family-specific key (Xiaomi's motion *event*) is just another row. Per device type a key
may mean something else (a bed pad's occupancy is ``in_bed``) or nothing (a flood detector's test button
is not an emergency call): :data:`TYPE_OVERRIDES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Converter = Callable[[Any], Any]


def _open_closed(value: Any) -> str:
    return "open" if value else "closed"


def _true_only(value: Any) -> bool | None:
    # motion/press are momentary: "no motion" is not a reading (the vocabulary has only True).
    return True if value else None


def _percent(value: Any) -> int | None:
    # a uint8 on air: values above 100 are garbage, not "full"
    return round(value) if isinstance(value, int | float) and 0 <= value <= 100 else None


#: Button events that are a press of the call button; the library's name goes to ``meta["event"]``.
PRESS_EVENTS = frozenset(
    {
        "press",
        "double_press",
        "triple_press",
        "long_press",
        "long_double_press",
        "long_triple_press",
        "hold_press",
    }
)


def _press(event_type: Any) -> bool | None:
    return True if event_type in PRESS_EVENTS else None


#: (kind, library key) -> (capability, converter). ``kind`` is "sensor", "binary" or "event" (for an
#: event the converter gets the event type); a converter returning None means "nothing to report".
#: Keys not listed are ignored (temperature, illuminance, Xiaomi's "door left open", signal strength...).
CAPABILITIES: Mapping[tuple[str, str], tuple[str, Converter]] = {
    ("event", "button"): ("press", _press),
    ("event", "motion"): ("motion", _true_only),  # Xiaomi nightlights: "motion_detected"
    ("binary", "motion"): ("motion", _true_only),
    ("binary", "occupancy"): ("motion", _true_only),
    ("binary", "presence"): ("motion", _true_only),
    ("binary", "door"): ("contact", _open_closed),
    ("binary", "window"): ("contact", _open_closed),
    ("binary", "opening"): ("contact", _open_closed),
    ("binary", "garage_door"): ("contact", _open_closed),
    ("binary", "moisture"): ("leak", bool),
    ("binary", "smoke"): ("smoke", bool),
    ("binary", "gas"): ("gas", bool),
    ("binary", "carbon_monoxide"): ("gas", bool),
    ("binary", "tamper"): ("tamper", bool),
    ("binary", "battery"): ("battery_low", bool),
    ("binary", "problem"): ("trouble", bool),
    ("sensor", "battery"): ("battery", _percent),
}

#: Per device type, another meaning for a library key; ``None`` = ignore the key on that type (a flood
#: detector's or a motion sensor's own button is for pairing, not a call).
TYPE_OVERRIDES: Mapping[tuple[str, str], tuple[str, Converter] | None] = {
    ("mattress", "occupancy"): ("in_bed", bool),
    ("leak", "button"): None,
    ("motion", "button"): None,
    ("smoke", "button"): None,
    ("door", "button"): None,
}

#: Named buttons of multi-button switches (Xiaomi K9B, XMWXKG01YL): kept as ``meta.button``.
BUTTON_SIDES = frozenset({"left", "middle", "right"})

#: Library key -> the device type it suggests (pairing list, adopt without a type).
KIND_GUESS: Mapping[tuple[str, str], str] = {
    ("event", "button"): "call_button",
    ("binary", "door"): "door",
    ("binary", "window"): "door",
    ("binary", "opening"): "door",
    ("binary", "motion"): "motion",
    ("event", "motion"): "motion",
    ("binary", "occupancy"): "motion",
    ("binary", "moisture"): "leak",
    ("binary", "smoke"): "smoke",
    ("binary", "gas"): "gas",
}

_POSTFIX = re.compile(r"^(?P<base>.+?)_(?P<index>[0-9]+|left|middle|right)$")


@dataclass(frozen=True, slots=True)
class Mapped:
    capability: str
    value: Any
    meta: dict[str, Any] = field(default_factory=dict)


def split_key(kind: str, key: str) -> tuple[str, dict[str, Any]]:
    """``button_2`` -> (``button``, {"index": 2}); ``button_left`` -> (``button``, {"button": "left"})."""
    m = _POSTFIX.match(key)
    if m and (kind, m["base"]) in CAPABILITIES:
        which = m["index"]
        return m["base"], {"button": which} if which in BUTTON_SIDES else {"index": int(which)}
    return key, {}


def to_capabilities(values: Iterable[tuple[str, str, Any]], device_type: str) -> list[Mapped]:
    """Map ``(kind, key, value)`` from a parser through the tables; unknown keys are skipped."""
    out: list[Mapped] = []
    for kind, key, value in values:
        if value is None:
            continue
        base, meta = split_key(kind, key)
        if (device_type, base) in TYPE_OVERRIDES:
            entry = TYPE_OVERRIDES[(device_type, base)]
        else:
            entry = CAPABILITIES.get((kind, base))
        if entry is None:
            continue
        capability, convert = entry
        converted = convert(value)
        if converted is None:
            continue
        if kind == "event" and capability == "press":
            meta["event"] = value
        out.append(Mapped(capability, converted, meta))
    return out


def capabilities_of(keys: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The capabilities library keys can produce (through :data:`CAPABILITIES`), in table order."""
    wanted = set(keys)
    seen: dict[str, None] = {}
    for key, (capability, _convert) in CAPABILITIES.items():
        if key in wanted:
            seen[capability] = None
    return tuple(seen)


def kind_of(values: Iterable[tuple[str, str, Any]]) -> str | None:
    """A guess of the device type from what an advert reports, or None."""
    for kind, key, _value in values:
        guess = KIND_GUESS.get((kind, split_key(kind, key)[0]))
        if guess:
            return guess
    return None
