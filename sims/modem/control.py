"""Async remote control of the mocked ModemManager: faults, the far end's phone, incoming SMS, the record.

Talks D-Bus (dbus-fast, the driver's own library) to the ``org.freedesktop.DBus.Mock`` methods of
:mod:`sims.modem.mm_mock`. One :class:`ModemControl` per event loop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dbus_fast import Variant

from sims.mock_control import ControlError as ControlError
from sims.mock_control import MockControl

MM_NAME = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"
MOCK_IFACE = "org.freedesktop.DBus.Mock"

#: MMModem3gppRegistrationState by the names the console and tests use.
REGISTRATION = {"idle": 0, "home": 1, "searching": 2, "denied": 3, "unknown": 4, "roaming": 5}


class ModemControl(MockControl):
    """Drive the mock from tests, the demo or the control port.

    Args:
        address: the private bus address (``MockModemProcesses.address``).
        record: the JSON-lines file the mock writes (``MockModemProcesses.record``), for :meth:`records`.
    """

    def __init__(self, address: str, record: Path | None = None) -> None:
        super().__init__(address)
        self.record = record

    async def _call(self, member: str, signature: str = "", body: list[Any] | None = None) -> Any:
        return await self._call_at(MM_NAME, MM_PATH, MOCK_IFACE, member, signature, body)

    async def add_modem(
        self, *, registration: str = "home", signal: int = 75, sim: str = "ok", imei: str | None = None
    ) -> str:
        """Plug a modem in; returns its object path."""
        options: dict[str, Variant] = {
            "registration": Variant("u", REGISTRATION[registration]),
            "signal": Variant("u", signal),
            "sim": Variant("s", sim),
        }
        if imei is not None:
            options["imei"] = Variant("s", imei)
        return str(await self._call("AddModem", "a{sv}", [options]))

    async def remove_modem(self) -> None:
        """Unplug the modem (its messages and calls vanish with it)."""
        await self._call("RemoveModem")

    async def set_sim(self, state: str) -> None:
        """``ok``, ``missing`` or ``pin`` (locked)."""
        await self._call("SetSim", "s", [state])

    async def set_registration(self, state: str) -> None:
        """``home``, ``roaming``, ``denied``, ``searching``, ``idle`` or ``unknown``."""
        await self._call("SetRegistration", "u", [REGISTRATION[state]])

    async def set_signal(self, percent: int, technology: int = 0) -> None:
        await self._call("SetSignal", "uu", [percent, technology])

    async def set_send_mode(self, mode: str, delay_ms: int = 50) -> None:
        """How the next sends end: ``ok``, ``fail``, ``hang`` (no reply) or ``remove`` (modem unplugged)."""
        await self._call("SetSendMode", "su", [mode, delay_ms])

    async def set_call_mode(self, mode: str, after_ms: int = 300) -> None:
        """What the called phone does: ``answer``, ``no_answer``, ``busy`` or ``fail``, ``after_ms`` into ringing."""
        await self._call("SetCallMode", "su", [mode, after_ms])

    async def hangup_remote(self) -> None:
        """The far end hangs up every call."""
        await self._call("HangupRemote")

    async def inject_sms(self, number: str, text: str, receive_ms: int = 50) -> str:
        """An SMS arrives from ``number`` (state receiving for ``receive_ms``, then received)."""
        return str(await self._call("InjectSms", "ssu", [number, text, receive_ms]))

    async def reset(self) -> None:
        """One healthy modem, default behaviours, no messages or calls; the record file is emptied."""
        await self._call("ResetModem")
        if self.record is not None and self.record.exists():
            self.record.write_text("")

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """What the mock recorded (``kind``: ``sms``, ``call`` or ``incoming``), oldest first."""
        if self.record is None or not self.record.exists():
            return []
        out = [json.loads(line) for line in self.record.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [r for r in out if kind is None or r.get("kind") == kind]
