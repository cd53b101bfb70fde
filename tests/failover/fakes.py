"""A fake modem (the Cellular port) for the second path's unit tests; the real one is tested on mocked ModemManager."""

from __future__ import annotations

import asyncio

from core.phone import CallResult, IncomingSms, SmsResult
from core.signal import Signal


class FakeModem:
    """Records SMS and calls; answers calls from ``answer`` (numbers that pick up)."""

    def __init__(self, *, blocked: str | None = None, answer: tuple[str, ...] = ()) -> None:
        self.incoming_sms: Signal[IncomingSms] = Signal("modem.sms")
        self.blocked = blocked
        self.answer = answer
        self.sms: list[tuple[str, str]] = []
        self.calls: list[str] = []
        self.sent_before: set[tuple[str, str]] = set()
        self.fail_next = False

    def sms_blocked(self) -> str | None:
        return self.blocked

    async def send_sms(self, number: str, text: str) -> SmsResult:
        await asyncio.sleep(0)
        if self.fail_next:
            self.fail_next = False
            return SmsResult(False, "send_failed")
        self.sms.append((number, text))
        return SmsResult(True)

    async def call(self, number: str, ring_timeout_s: float) -> CallResult:
        await asyncio.sleep(0)
        self.calls.append(number)
        return CallResult(True, "answered", 3.0) if number in self.answer else CallResult(False, "no_answer", 1.0)

    async def was_sent(self, number: str, text: str) -> bool | None:
        return (number, text) in self.sent_before

    def reply(self, number: str, text: str) -> None:
        self.incoming_sms.emit(IncomingSms(number, text))
