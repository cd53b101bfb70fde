"""Ports: the few calls one service makes to another, as protocols.

A service never holds another service nor the gateway: what it needs from elsewhere arrives as one of these,
wired in :mod:`gateway.services`. Each port is a handful of methods, so a test hands a service a small fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.phone import CallResult, IncomingSms, SmsResult
from core.signal import Signal

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.rules.alarm_book import AckAction

#: Exit status of ``fbgw run`` after a requested restart (EX_TEMPFAIL): systemd starts the gateway again.
EXIT_RESTART = 75
#: Undoes a reconfiguration (restores what was running before it).
Undo = Callable[[], Awaitable[None]]


class AlarmAcks(Protocol):
    """Acknowledge or close an open alarm (the platform's ``alarms/ack`` and ``alarm_ack`` command, an SMS reply)."""

    async def ack(
        self, alarm_id: str, by: str = "platform", note: str = "", action: AckAction = "ack"
    ) -> dict[str, Any]:
        """``{"state": "acknowledged" | "resolved", "alarm": id}`` once committed; ``LookupError`` if unknown."""
        ...


class InstallWindow(Protocol):
    """The technician's install window (sign-in and pairing are possible only while it is open)."""

    #: Told ``True`` / ``False`` when the window opens / closes.
    window_changed: Signal[bool]

    @property
    def window_is_open(self) -> bool: ...

    @property
    def window_opened_by(self) -> str:
        """Who opened the window last: "first boot", "platform", "install button <device>"..."""
        ...

    def open_install_window(self, seconds: float | None = None, by: str = "platform") -> int:
        """Open the window for ``seconds`` (default: the configured length, capped by the allowance).
        Returns the seconds granted; ``ValueError`` for ``seconds <= 0``."""
        ...


class HttpEndpoint(Protocol):
    """Where the local HTTP server listens, once it does."""

    #: Told ``(host, port)`` once the server listens.
    listening: Signal[tuple[str, int]]

    @property
    def page_scheme(self) -> str:
        """``https`` when the page is offered over HTTPS (the address told is the HTTPS one), else ``http``."""
        ...


class InstallerCode(Protocol):
    """Set the installer sign-in code (only its hash is stored)."""

    async def set_installer_code(self, code: str) -> None:
        """``ValueError`` for a code that is not acceptable, ``OSError`` if its hash cannot be stored."""
        ...


class FeedbackDisplay(Protocol):
    """What the home shows and says (LED, buzzer, voice)."""

    @property
    def current(self) -> str:
        """The state shown now ("normal", "raised", "call_sent", "call_received", "not_sent", ...)."""
        ...

    def signal(self, state: str, *, device_id: str | None = None, kind: str | None = None) -> None:
        """Show ``state`` for the alarm of event kind ``kind`` (what is said depends on it: a smoke alarm
        tells the elder to leave). Never blocks, never raises."""
        ...


class PromptPacks(Protocol):
    """Install a recorded prompt pack (a dialect) pushed by the platform."""

    async def install_pack(self, language: str, url: str, sha256: str) -> dict[str, Any]:
        """Fetch the tar at ``url``, check its ``sha256``, and make its WAVs the prompts of ``language``
        (``sha256 == ""``: remove the pack). ``ValueError`` naming the problem if refused."""
        ...


class CountyProfiles(Protocol):
    """The county acceptance profiles the technician page knows (a pushed ``county`` must name one)."""

    def check_county(self, county: str, directory: Path | None) -> None:
        """Return if ``<directory>/<county>.toml`` is a valid profile; ``ValueError`` naming the problem if not.
        Blocking (reads a small file): call it in a thread."""
        ...


@runtime_checkable
class Cellular(Protocol):
    """The modem as the second alarm path uses it (implemented by the ``modem`` driver)."""

    #: SMS received from anyone (the second path keeps those from its contacts).
    incoming_sms: Signal[IncomingSms]

    def sms_blocked(self) -> str | None:
        """None if an SMS can be sent now; else why not ("no_modem", "sim_missing", "not_registered"...)."""
        ...

    async def send_sms(self, number: str, text: str) -> SmsResult:
        """Send one SMS of any length (the modem splits it); never raises for a modem problem."""
        ...

    async def call(self, number: str, ring_timeout_s: float) -> CallResult:
        """Dial ``number``; return once it is answered (then hung up) or has rung out, failed or been refused."""
        ...

    async def was_sent(self, number: str, text: str) -> bool | None:
        """Whether the modem holds a sent SMS with this number and text (None: it cannot tell)."""
        ...


class TestMode(Protocol):
    """Whether the technician's installation test mode is on (alarms are tests: nothing is sent to contacts)."""

    @property
    def test_mode_active(self) -> bool: ...


class TestModeSwitch(TestMode, Protocol):
    """Turns installation test mode on and off (the technician's button, the platform's ``test_mode`` command).

    While it is on, events carry ``test: true``, alarms never escalate, and the second path sends nothing
    (it reads :class:`TestMode`).
    """

    #: Told ``True`` / ``False`` when test mode starts / ends.
    changed: Signal[bool]

    async def start_test(self, minutes: float, by: str) -> dict[str, Any]:
        """Turn test mode on for ``minutes`` (restarting the countdown if it is on); ``ValueError`` if out of
        range. Returns ``{"active": True, "until_ts": ...}`` once the start event is committed."""
        ...

    async def end_test(self, by: str) -> dict[str, Any]:
        """Turn test mode off now (nothing happens if it is off). Returns ``{"active": False}``."""
        ...


class CoreHealth(Protocol):
    """What the watchdog checks: the tasks that carry alarms, and the outbox writer thread."""

    started: asyncio.Event

    def core_tasks(self) -> Mapping[str, asyncio.Task[Any] | None]:
        """The tasks without which the gateway is not doing its job, by name (None: not running)."""
        ...

    def probe_writer(self) -> asyncio.Future[None] | None:
        """A no-op run on the outbox writer thread (None when there is none); never finishing means wedged."""
        ...


class ReconfigureIncomplete(RuntimeError):
    """Going back to the old config failed for some parts (named in ``problems``)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Reconfigure(Protocol):
    """The one owner of live reconfiguration (rules, services, uplink)."""

    async def reconfigure(self, new: Config) -> Undo:
        """Switch to ``new`` (already validated); returns what puts the old config back. Raises if it failed,
        having put the old config back itself."""
        ...


class Restart(Protocol):
    """Stop the gateway cleanly and ask systemd to start it again."""

    def request_restart(self) -> None: ...
