"""The one interface every transport implements, and the vocabulary it speaks.

A driver owns one transport (BLE, Zigbee, GPIO, the simulated home). It knows nothing of MQTT, rules or
storage: it turns radio/wire input into :class:`Reading`s and hands them to a :class:`DriverSink`, offers
pairing and removal, and reports its health.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from core.clock import monotonic_ms
from core.devices import Device

if TYPE_CHECKING:
    from pathlib import Path


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
        value outside the vocabulary; both are the driver's bug or bad input, to be counted, never fatal.
        Raises :class:`ReadingRefused` when the reading could not be stored."""

    async def availability(self, device_id: str, online: bool, reason: str = "") -> None:
        """A device went offline (``online=False``) or came back."""

    async def radio(self, transport: str, up: bool, reason: str = "") -> None:
        """The radio itself (coordinator stick, BLE adapter, gpiochip) was lost or is back."""

    def pairing(self, update: PairingUpdate) -> None:
        """Live pairing progress (never blocks)."""


@dataclass(frozen=True, slots=True)
class SupportedDevice:
    """One row of ``docs/devices.md``: a device family a driver knows, generated from the driver's own tables.

    Each driver package lists these in ``drivers/<transport>/supported.py`` as ``SUPPORTED``, built from the
    mapping tables the driver uses, so the page and the code cannot disagree.
    """

    transport: str
    vendor: str
    models: tuple[str, ...]
    device_type: str
    reports: tuple[str, ...]  # capabilities, from core.vocabulary
    pairing: str  # what the technician does, in plain words


class ReadingRefused(RuntimeError):
    """The gateway could not store what a driver handed over (the card refused the write); the reading was NOT
    accepted. The gateway has logged why; a driver counts it and carries on."""


class DeviceStore(Protocol):
    """The paired devices, as a driver sees them (the gateway's registry implements it)."""

    def get(self, device_id: str) -> Device | None:
        """The device with that id, or None."""

    def all(self, transport: str | None = None) -> list[Device]:
        """Every device, or those of one transport."""

    async def upsert(self, device: Device, *, must_persist: bool = True) -> None:
        """Add or replace a device; returns after it is on disk (``must_persist=False``: memory is enough)."""

    async def update(self, device_id: str, *, must_persist: bool = True, **changes: Any) -> Device:
        """Change some fields of a known device; ``KeyError`` for an unknown device or field."""

    async def remove(self, device_id: str) -> Device | None:
        """Forget a device; returns it, or None if it was not known."""


@dataclass(slots=True)
class DriverContext:
    """Everything a driver may use from the gateway."""

    gateway_id: str
    state_dir: Path
    sink: DriverSink
    registry: DeviceStore


class Driver(abc.ABC):
    """Base class of every transport driver.

    Lifetime: ``await start()`` once, ``await stop()`` once. ``start`` must return promptly: a radio that
    is absent is reported through ``ctx.sink.radio(..., up=False)`` and retried in the background, never
    raised, so the other transports keep running. Configuration errors (a line that does not exist, a
    malformed section) *are* raised from ``create_driver`` / ``start`` as :class:`DriverConfigError`.
    """

    transport: str = "base"
    #: False for a transport with no devices to add (the cellular modem): the add page does not offer it.
    has_devices: bool = True

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
