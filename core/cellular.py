"""What the cellular modem offers the rest of the gateway: send an SMS, place a call, hear incoming SMS.

The modem driver (``drivers/modem``) implements :class:`Cellular`; the alarm failover service uses it through this
protocol only, so it never depends on D-Bus or ModemManager. Every call is safe to make at any time: when the modem
is absent, the SIM locked or missing, or the network not registered, nothing is sent and the result says why
(``error`` starts with one of :data:`NOT_READY_REASONS`); nothing here raises for a modem fault.

Phone numbers are secrets for logging: the driver registers every number it sees with ``core.secrets.add_secret``;
callers should log a contact's label, never the number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from core.signal import Signal

#: Why the modem cannot send right now (the first word of ``SmsResult.error`` / ``CallResult.reason``).
NOT_READY_REASONS = ("no_modem", "sim_missing", "sim_locked", "sim_error", "not_registered", "modem_failed")

SmsState = Literal["sent", "failed", "not_sent"]
CallOutcome = Literal["answered", "no_answer", "busy", "failed", "not_placed"]


@dataclass(frozen=True, slots=True)
class SmsResult:
    """How one ``send_sms`` ended.

    ``state``: ``sent`` (the network took it), ``failed`` (tried and the modem/network refused, timed out or the
    modem vanished mid-send: it may or may not have left), ``not_sent`` (never tried: modem not ready).
    ``error`` is empty when sent; else a short reason (``not_registered``, ``timeout``, ``modem_removed``, or
    ModemManager's error name). ``elapsed_ms`` is the time from the call to the result.
    """

    state: SmsState
    error: str = ""
    elapsed_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.state == "sent"


@dataclass(frozen=True, slots=True)
class CallResult:
    """How one ``call`` ended. ``answered`` is the only thing a failover policy needs; ``outcome`` says more:
    ``no_answer`` (rang until ``ring_timeout_s`` or the far end dropped it unanswered), ``busy`` (refused or busy),
    ``failed`` (network/modem error, modem removed), ``not_placed`` (modem not ready; ``reason`` says why)."""

    answered: bool
    outcome: CallOutcome
    reason: str = ""
    ring_ms: int = 0  # from Start to answered / given up


@dataclass(frozen=True, slots=True)
class IncomingSms:
    """One SMS received (fully reassembled by ModemManager). ``number`` as the network gave it (e.g. +8613...)."""

    number: str
    text: str
    timestamp: str = ""  # the SMSC timestamp, ISO 8601 with offset, when the network gave one
    mono_ms: int = 0  # when the gateway read it (core.clock.monotonic_ms)


@dataclass(frozen=True, slots=True)
class CellularHealth:
    """The modem as the status page, ``fbgw status`` and the heartbeat show it."""

    present: bool = False
    ready: bool = False  # could send an SMS now
    not_ready: str = ""  # why not (one of NOT_READY_REASONS, or empty)
    model: str = ""
    state: str = "unknown"  # ModemManager's modem state: registered, connected, searching, locked, failed...
    sim: str = "unknown"  # ok, missing, locked (sim-pin/sim-puk...), error, unknown
    registration: str = "unknown"  # home, roaming, denied, searching, idle, unknown...
    registered: bool = False
    roaming: bool = False
    technology: str = ""  # lte, umts, gsm...
    signal_pct: int | None = None
    operator: str = ""
    last_sms: SmsResult | None = None
    counters: dict[str, int] = field(default_factory=dict)


class Cellular(Protocol):
    """A cellular modem (see the module docstring)."""

    #: Every SMS received from any number, once complete. Listeners must not block (schedule work instead).
    incoming: Signal[IncomingSms]
    #: The health changed (modem plugged/unplugged, SIM, registration; not every signal-quality wobble).
    changed: Signal[CellularHealth]

    def health(self) -> CellularHealth:
        """Current state; cheap."""

    async def send_sms(self, number: str, text: str) -> SmsResult:
        """Send ``text`` (any length, any script: ModemManager splits and encodes it) to ``number``.

        Returns when the network accepted or refused it, or after the driver's send timeout. Sends are
        serialised (a modem sends one SMS at a time)."""

    async def call(self, number: str, ring_timeout_s: float) -> CallResult:
        """Dial ``number`` and let it ring up to ``ring_timeout_s``; returns as soon as it is answered, refused or
        given up (then hung up). An answered call is hung up by the driver after its ``hold_s`` setting."""


@runtime_checkable
class HasCellular(Protocol):
    """A driver that carries a cellular modem (the modem driver). The wiring finds it among the running drivers with
    ``isinstance(driver, HasCellular)`` and hands ``driver.cellular`` to the services that need it, so no service
    imports the driver package."""

    @property
    def cellular(self) -> Cellular: ...


#: A function that stops listening (what ``Signal.connect`` returns).
Unsubscribe = Callable[[], None]
