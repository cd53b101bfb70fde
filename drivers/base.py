"""The one interface every transport implements, and the vocabulary it speaks.

A driver owns one transport (BLE, Zigbee, GPIO, the simulated home). It knows nothing of MQTT, rules or
storage: it turns radio/wire input into :class:`Reading`s and hands them to a :class:`DriverSink`, offers
pairing and removal, and reports its health.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.registry import Device, DeviceRegistry

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
    "install": "the installer's button (true); a long press (meta event=long_press) opens the install window",
}

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


def monotonic_ms() -> int:
    """Milliseconds on the monotonic clock (durations; never jumps when the wall clock is set)."""
    return time.monotonic_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Reading:
    """One thing a device said, in the shared vocabulary.

    ``meta`` carries transport details worth keeping (rssi, lqi, battery, raw zone status...).
    ``trace`` is an opaque test/rig correlation id copied onto every event the reading causes.
    """

    device: str
    capability: str
    value: Any
    mono_ms: int = field(default_factory=monotonic_ms)
    meta: Mapping[str, Any] = field(default_factory=dict)
    trace: str | None = None


PairingStage = Literal[
    "open",  # permit-join / scan started; ``remaining_s`` counts down
    "candidate",  # a device seen nearby that could be added (BLE scan list)
    "joined",
    "interview",
    "enrolled",
    "ready",  # device added to the registry and working
    "failed",  # ``detail`` says why
    "closed",  # pairing window over
]


@dataclass(frozen=True, slots=True)
class PairingUpdate:
    """Progress of a pairing session, pushed live to the technician's page."""

    transport: str
    stage: PairingStage
    device: str | None = None
    detail: str = ""
    remaining_s: int | None = None
    info: Mapping[str, Any] = field(default_factory=dict)  # address, name, rssi, kind, needs_bindkey...


@dataclass(slots=True)
class DriverHealth:
    """What a driver tells the status page and the heartbeat."""

    transport: str
    state: Literal["starting", "up", "degraded", "down", "stopped"] = "starting"
    detail: str = ""
    counters: dict[str, int] = field(default_factory=dict)  # e.g. frames_bad, decrypt_failed, replays


class DriverSink(Protocol):
    """Where a driver sends what it learns. Implemented by the gateway."""

    async def reading(self, reading: Reading) -> object:
        """Hand over a reading. Returns once every event it causes is committed to the outbox.

        Raises ``LookupError`` for a device the registry does not know and ``ValueError`` for a capability or
        value outside the vocabulary; both are the driver's bug or bad input, to be counted, never fatal."""

    async def availability(self, device_id: str, online: bool, reason: str = "") -> None:
        """A device went offline (``online=False``) or came back."""

    async def radio(self, transport: str, up: bool, reason: str = "") -> None:
        """The radio itself (coordinator stick, BLE adapter, gpiochip) was lost or is back."""

    def pairing(self, update: PairingUpdate) -> None:
        """Live pairing progress (never blocks)."""


@dataclass(slots=True)
class DriverContext:
    """Everything a driver may use from the gateway."""

    gateway_id: str
    state_dir: Path
    sink: DriverSink
    registry: DeviceRegistry


class Driver(abc.ABC):
    """Base class of every transport driver.

    Lifetime: ``await start()`` once, ``await stop()`` once. ``start`` must return promptly: a radio that
    is absent is reported through ``ctx.sink.radio(..., up=False)`` and retried in the background, never
    raised, so the other transports keep running. Configuration errors (a line that does not exist, a
    malformed section) *are* raised from ``create_driver`` / ``start`` as :class:`DriverConfigError`.
    """

    transport: str = "base"

    def __init__(self, ctx: DriverContext) -> None:
        self.ctx = ctx

    @abc.abstractmethod
    async def start(self) -> None:
        """Begin delivering readings."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop and release the radio."""

    @abc.abstractmethod
    async def start_pairing(self, seconds: int) -> None:
        """Open pairing for ``seconds``; progress goes to ``ctx.sink.pairing``."""

    async def stop_pairing(self) -> None:  # noqa: B027 - optional
        """Close pairing early."""

    @abc.abstractmethod
    async def remove(self, device_id: str) -> None:
        """Forget a device on the radio (Zigbee leave, BLE forget, GPIO free) and in the registry."""

    @abc.abstractmethod
    def health(self) -> DriverHealth:
        """Current health and counters."""

    async def adopt(self, address: str, options: Mapping[str, Any]) -> Device:
        """Add a candidate the technician picked (BLE address + bindkey, GPIO line...).

        Transports whose devices join by themselves (Zigbee) do not need it. ``options`` may carry
        ``type``, ``name``, ``room``, ``secret`` and transport-specific keys. Returns the registered device
        once it is confirmed (e.g. a valid packet seen); raises :class:`DriverConfigError` with a clear
        message otherwise.
        """
        raise DriverConfigError(f"{self.transport}: devices join by themselves; nothing to adopt")

    async def identify(self, device_id: str) -> bool:
        """Make a device blink/beep where it can. Returns False when unsupported."""
        return False


class DriverConfigError(ValueError):
    """A driver's configuration is invalid; the message names the offending setting."""
