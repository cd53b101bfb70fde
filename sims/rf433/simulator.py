"""The simulated receiver module: what it prints on its UART when a 433 MHz device transmits.

A press is a burst: the transmitter repeats its code (here every ``gap_ms``, ``frames`` times, ~1 s like a real
EV1527 pendant), and the module prints one frame per repetition, in the binary RF-bridge format or as RCSwitch text
lines (see ``drivers/rf433/frames.py``). The serial line is a pty behind an optional stable symlink, so the module
can be unplugged and plugged back like a USB-serial adapter.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path
from typing import Literal

from drivers.rf433.frames import encode_binary, encode_rcswitch
from sims.znp.port import PtyPort

log = logging.getLogger(__name__)

Format = Literal["binary", "text"]


class Rf433Simulator:
    """One receiver module. ``await`` nothing to create; :meth:`open` needs a running loop."""

    def __init__(self, link: Path | None = None, fmt: Format = "binary") -> None:
        self.port = PtyPort(self._from_host, link)
        self.format: Format = fmt
        self.frames_sent = 0
        self.host_bytes = 0

    def _from_host(self, data: bytes) -> None:
        self.host_bytes += len(data)  # receiver modules ignore what the host writes

    @property
    def path(self) -> str:
        return self.port.path

    def open(self) -> None:
        self.port.open()

    def unplug(self) -> None:
        self.port.close()

    def plug(self) -> None:
        self.port.open()

    def frame(self, code: int) -> bytes:
        return encode_binary(code) if self.format == "binary" else encode_rcswitch(code)

    async def burst(self, code: int, frames: int = 10, gap_ms: int = 100) -> None:
        """One press: ``code`` repeated ``frames`` times, ``gap_ms`` apart."""
        for i in range(frames):
            self.port.write(self.frame(code))
            self.frames_sent += 1
            if i + 1 < frames:
                await asyncio.sleep(gap_ms / 1000)

    async def door(self, address: int, opened: bool, open_data: int = 0xA, closed_data: int = 0xE) -> None:
        """An EV1527 door sensor at ``address`` (20 bits) reports open or closed."""
        await self.burst((address << 4) | (open_data if opened else closed_data), frames=6)

    def garbage(self, count: int = 1, seed: int | None = None) -> None:
        """Line noise: ``count`` chunks of random bytes and broken frames."""
        rng = random.Random(seed)
        for _ in range(count):
            choice = rng.randrange(3)
            if choice == 0:
                self.port.write(bytes([0xAA, 0xA4]) + rng.randbytes(9) + b"\x00")  # wrong end byte
            elif choice == 1:
                self.port.write(b"Received banana / 24bit Protocol: 1\r\n")
            else:
                self.port.write(b"\xfe\xff" + rng.randbytes(5).replace(b"\xaa", b"") + b"\r\n")

    def raw(self, data: bytes) -> None:
        self.port.write(data)
