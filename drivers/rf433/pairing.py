"""Learning a 433 MHz code: in the pairing window, every code the gateway does not know is offered to the
technician as a candidate (press the pendant, open the door, test the smoke sensor); adopting it with a type turns
it into a device."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.clock import monotonic_ms
from drivers.base import PairingUpdate
from drivers.rf433.frames import Frame, ev1527


@dataclass(slots=True)
class Candidate:
    """A code heard during a pairing window."""

    frame: Frame
    last_ms: int
    presses: int = 1
    data_seen: set[int] = field(default_factory=set)

    def info(self) -> dict[str, Any]:
        """What the add page shows; ``address`` is what ``adopt`` takes."""
        address, data = ev1527(self.frame)
        return {
            "address": self.frame.hex,
            "code": self.frame.hex,
            "bits": str(self.frame.bits),
            "ev1527_address": f"{address:05x}",
            "ev1527_data": f"{data:x}",
            "presses": str(self.presses),
            "name": f"433 MHz {self.frame.hex}",
            "kinds": "call_button,pull_cord,door,smoke",
            "needs_bindkey": False,
        }


class PairingWindow:
    """The window and its candidates. Candidates stay adoptable for ``ttl_s`` after they were last heard, also
    after the window closed (the technician names the device after pressing it)."""

    def __init__(self, emit: Callable[[PairingUpdate], None], ttl_s: float) -> None:
        self._emit = emit
        self.ttl_ms = int(ttl_s * 1000)
        self.candidates: dict[str, Candidate] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        return self._task is not None and not self._task.done()

    def open(self, seconds: int) -> None:
        self._cancel()
        self._emit(PairingUpdate("rf433", "open", remaining_s=seconds, detail="press the button of the device"))
        self._task = asyncio.get_running_loop().create_task(self._run(seconds), name="rf433-pairing")

    async def _run(self, seconds: int) -> None:
        await asyncio.sleep(seconds)
        self._emit(PairingUpdate("rf433", "closed"))

    def heard(self, frame: Frame, new_burst: bool) -> None:
        """An unknown code was received; offered when the window is open."""
        if not self.is_open:
            return
        now = monotonic_ms()
        for code in [c for c, old in self.candidates.items() if now - old.last_ms > self.ttl_ms]:
            del self.candidates[code]  # a neighbour's remote heard once, long ago
        cand = self.candidates.get(frame.hex)
        if cand is None:
            cand = self.candidates[frame.hex] = Candidate(frame, now)
        elif new_burst:
            cand.presses += 1
        cand.last_ms = now
        cand.data_seen.add(ev1527(frame)[1])
        if new_burst:
            self._emit(PairingUpdate("rf433", "candidate", info=cand.info()))

    def take(self, code: str) -> Candidate | None:
        """The candidate for ``code`` if heard recently enough (and forget it)."""
        cand = self.candidates.get(code.strip().lower())
        if cand is None or monotonic_ms() - cand.last_ms > self.ttl_ms:
            return None
        return self.candidates.pop(cand.frame.hex)

    def close(self) -> None:
        if self.is_open:
            self._cancel()
            self._emit(PairingUpdate("rf433", "closed"))

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
