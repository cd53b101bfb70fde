"""Count what the radio library rejects on the serial line, so bad input shows up in the driver's health.

zigpy-znp and bellows resynchronise on garbage by themselves and only log frames they cannot use (a frame
with an unknown command, a payload that does not parse). We count those log records per driver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

RADIO_LOGGERS = ("zigpy_znp", "bellows")

#: Message prefixes that mean "a frame from the stick was unusable" -> counter name.
PATTERNS: tuple[tuple[str, str], ...] = (
    ("Received an unknown frame", "radio_frames_unknown"),
    ("Received an exception while passing frame", "radio_frames_bad"),
    ("Failed to parse", "radio_frames_bad"),
)


class RadioLogCounter(logging.Handler):
    """A logging handler that turns the radio library's bad-frame messages into counters."""

    def __init__(self, count: Callable[[str], None]) -> None:
        super().__init__(level=logging.WARNING)
        self._count = count

    def emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        for prefix, counter in PATTERNS:
            if message.startswith(prefix):
                self._count(counter)
                return

    def attach(self) -> None:
        for name in RADIO_LOGGERS:
            logging.getLogger(name).addHandler(self)

    def detach(self) -> None:
        for name in RADIO_LOGGERS:
            logging.getLogger(name).removeHandler(self)
