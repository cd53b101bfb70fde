"""Recent log lines kept in memory, for the ``upload_logs`` command.

The SD card is not written for this: the buffer is a bounded deque of formatted lines attached to the root
logger while the command service runs. Older lines fall out when ``max_bytes`` is exceeded. Lines go through
the gateway's redacting formatter (gateway.logsetup), so no secret leaves the box in an upload.
"""

from __future__ import annotations

import collections
import logging
import threading

from gateway.logsetup import StructuredFormatter


class LogBuffer(logging.Handler):
    """A logging handler that keeps the newest ``max_bytes`` of formatted log text."""

    def __init__(self, max_bytes: int, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.max_bytes = max_bytes
        self._lines: collections.deque[str] = collections.deque()
        self._size = 0
        self._guard = threading.Lock()  # records arrive from worker threads too
        self.setFormatter(StructuredFormatter("text"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except (TypeError, ValueError):  # a bad format argument in someone's log call must not break logging
            line = f"{record.levelname} {record.name}: {record.msg!r}\n"
        size = len(line.encode("utf-8", "replace"))
        with self._guard:
            self._lines.append(line)
            self._size += size
            while self._size > self.max_bytes and len(self._lines) > 1:
                self._size -= len(self._lines.popleft().encode("utf-8", "replace"))

    def tail(self, max_bytes: int) -> tuple[str, bool]:
        """The newest whole lines fitting in ``max_bytes`` (UTF-8), and whether older lines were left out."""
        with self._guard:
            lines = list(self._lines)
        out: list[str] = []
        total = 0
        for line in reversed(lines):
            size = len(line.encode("utf-8", "replace"))
            if total + size > max_bytes:
                return "".join(reversed(out)), True
            out.append(line)
            total += size
        return "".join(reversed(out)), False

    def attach(self) -> None:
        logging.getLogger().addHandler(self)

    def detach(self) -> None:
        logging.getLogger().removeHandler(self)
