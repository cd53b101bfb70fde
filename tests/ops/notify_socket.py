"""A stand-in for systemd's notify socket: a real AF_UNIX datagram socket the gateway sends to.

A thread receives, so arrival times are true even while the test's event loop is blocked on purpose.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path


class FakeNotifySocket:
    """Binds a datagram socket at ``path`` and records every datagram with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._recv, name="fake-notify", daemon=True)
        self._thread.start()

    def _recv(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append((time.monotonic(), data.decode()))

    def snapshot(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self.messages)

    def lines(self) -> list[str]:
        return [line for _, msg in self.snapshot() for line in msg.split("\n")]

    def count(self, line: str) -> int:
        return self.lines().count(line)

    def times(self, line: str) -> list[float]:
        return [t for t, msg in self.snapshot() if line in msg.split("\n")]

    async def wait_for(self, line: str, timeout: float = 10.0, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.count(line) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{line!r} x{count} not received; got {self.lines()[-20:]}")
            await asyncio.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        self.path.unlink(missing_ok=True)
