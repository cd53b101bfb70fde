"""The simulated stick's serial line: a pseudo-terminal, optionally behind a stable symlink.

A real USB stick keeps its device path across unplug/replug (``/dev/serial/by-id/...``); a pty gets a new
``/dev/pts/N`` each time. So :class:`PtyPort` can maintain a symlink that always points at the current pty
and disappears while the stick is "unplugged". The simulator keeps its own handle on the pty's slave side so
the line stays usable while no host has it open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

MAX_PENDING = 64 * 1024  # a UART that nobody reads drops data; so do we beyond this


class PtyPort:
    """One end of a pty driven by the event loop. ``on_bytes`` gets every chunk the host writes."""

    def __init__(self, on_bytes: Callable[[bytes], None], link: Path | None = None) -> None:
        self._on_bytes = on_bytes
        self.link = link
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_path: str | None = None
        self._pending = bytearray()
        self.bytes_dropped = 0

    @property
    def is_open(self) -> bool:
        return self._master is not None

    @property
    def path(self) -> str:
        """The path a host should open: the symlink when there is one, else the pty itself."""
        if self.link is not None:
            return str(self.link)
        if self.slave_path is None:
            raise RuntimeError("port is not open")
        return self.slave_path

    def open(self) -> None:
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_path = os.ttyname(slave)
        asyncio.get_running_loop().add_reader(master, self._readable)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_path)
            tmp.replace(self.link)
        log.info("znp_sim: serial line on %s", self.path)

    def close(self) -> None:
        """Pull the plug: the host's open port sees an I/O error, the symlink goes away."""
        if self._master is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        loop.remove_writer(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self._pending.clear()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def write(self, data: bytes) -> None:
        if self._master is None:
            return
        if self._pending:
            self._queue(data)
            return
        try:
            sent = os.write(self._master, data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            log.debug("znp_sim: write failed: %s", exc)
            return
        if sent < len(data):
            self._queue(data[sent:])

    def _queue(self, data: bytes) -> None:
        room = MAX_PENDING - len(self._pending)
        if len(data) > room:
            self.bytes_dropped += len(data) - room
            data = data[:room]
        first = not self._pending
        self._pending += data
        if first and self._master is not None:
            asyncio.get_running_loop().add_writer(self._master, self._flush)

    def _flush(self) -> None:
        if self._master is None:
            return
        try:
            sent = os.write(self._master, self._pending)
        except BlockingIOError:
            return
        except OSError:
            sent = len(self._pending)
        del self._pending[:sent]
        if not self._pending:
            asyncio.get_running_loop().remove_writer(self._master)

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            chunk = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            log.debug("znp_sim: read failed: %s", exc)
            return
        if chunk:
            self._on_bytes(chunk)
