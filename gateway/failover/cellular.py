"""The ``modem`` driver as the :class:`gateway.ports.Cellular` port, found when the second path needs it.

Drivers start after the services, in the background (a radio stack takes seconds to load), so the second path
is built before the modem driver runs. This port looks the driver up at each use and forwards its received
SMS from the moment it starts; until then an SMS or a call fails as ``no_modem`` (and the second path retries,
as for a modem that is not registered yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from core.phone import CallResult, IncomingSms, SmsResult
from core.signal import Signal
from gateway.ports import Cellular

if TYPE_CHECKING:
    from core.signal import Unsubscribe


class DriverCellular:
    """Implements :class:`gateway.ports.Cellular` over the driver named ``name`` in ``drivers`` (a live view)."""

    def __init__(self, drivers: Mapping[str, object], started: Signal[str], name: str = "modem") -> None:
        self.incoming_sms: Signal[IncomingSms] = Signal("incoming_sms")
        self._drivers = drivers
        self._name = name
        self._modem: Cellular | None = None
        self._watching: Unsubscribe = started.connect(self._started)
        self._find()

    def _started(self, name: str) -> None:
        if name == self._name:
            self._find()

    def _find(self) -> Cellular | None:
        if self._modem is None:
            driver = self._drivers.get(self._name)
            if isinstance(driver, Cellular):
                self._modem = driver
                driver.incoming_sms.connect(self.incoming_sms.emit)  # for the driver's (the process's) lifetime
                self._watching()
        return self._modem

    def sms_blocked(self) -> str | None:
        modem = self._find()
        return "no_modem" if modem is None else modem.sms_blocked()

    async def send_sms(self, number: str, text: str) -> SmsResult:
        modem = self._find()
        return SmsResult(False, "no_modem") if modem is None else await modem.send_sms(number, text)

    async def call(self, number: str, ring_timeout_s: float) -> CallResult:
        modem = self._find()
        return CallResult(False, "no_modem") if modem is None else await modem.call(number, ring_timeout_s)

    async def was_sent(self, number: str, text: str) -> bool | None:
        modem = self._find()
        return None if modem is None else await modem.was_sent(number, text)
