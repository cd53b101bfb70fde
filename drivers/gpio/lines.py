"""The line request behind a small interface, so the driver runs the same on a Pi, gpio-sim and a test pipe.

A :class:`LineSource` is one requested input line with edge detection on both edges. It exposes the file
descriptor the kernel makes readable when edge events are queued; the driver watches it with
``loop.add_reader`` and calls :meth:`LineSource.read_edges` only then, so reads never block the loop.

:func:`open_gpiod_line` is the real implementation on libgpiod v2 (python ``gpiod`` 2.x). Its errors name
the input, the chip and the line, because a technician reads them on the status page.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from drivers.gpio.config import InputSettings


@dataclass(frozen=True, slots=True)
class Edge:
    """One edge event: the logical level after it (active-low already applied) and the kernel's time.

    ``ts_ns`` is on CLOCK_MONOTONIC, the clock of :func:`time.monotonic_ns` and ``Reading.mono_ms``.
    ``seqno`` is the kernel's per-line sequence number (gaps mean the kernel's event buffer overflowed).
    """

    active: bool
    ts_ns: int
    seqno: int = 0


class LineError(OSError):
    """A line could not be requested or read; the message names the input, chip and line."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LineSource(Protocol):
    """One requested input line."""

    def fileno(self) -> int:
        """The descriptor that becomes readable when edge events are queued."""

    def read_edges(self) -> list[Edge]:
        """The queued edge events, oldest first. Call only when :meth:`fileno` is readable."""

    def get_value(self) -> bool:
        """The line's current logical level (True = active)."""

    def close(self) -> None:
        """Release the line."""


#: Opens the line of one input. Raises :class:`LineError`. Runs in a worker thread (it does syscalls).
LineFactory = Callable[["InputSettings", str], LineSource]


class GpiodLine:
    """:class:`LineSource` on a libgpiod v2 line request."""

    def __init__(self, request: object, offset: int) -> None:
        self._request = request
        self._offset = offset

    def fileno(self) -> int:
        return int(self._request.fd)  # type: ignore[attr-defined]

    def read_edges(self) -> list[Edge]:
        import gpiod

        rising = gpiod.EdgeEvent.Type.RISING_EDGE
        events = self._request.read_edge_events()  # type: ignore[attr-defined]
        return [Edge(e.event_type == rising, e.timestamp_ns, e.line_seqno) for e in events]

    def get_value(self) -> bool:
        import gpiod

        return bool(self._request.get_value(self._offset) == gpiod.line.Value.ACTIVE)  # type: ignore[attr-defined]

    def close(self) -> None:
        self._request.release()  # type: ignore[attr-defined]


def _bias(name: str) -> object:
    import gpiod

    table = {
        "as_is": gpiod.line.Bias.AS_IS,
        "disabled": gpiod.line.Bias.DISABLED,
        "pull_up": gpiod.line.Bias.PULL_UP,
        "pull_down": gpiod.line.Bias.PULL_DOWN,
    }
    return table[name]


def check_chip(chip: str, where: str) -> None:
    """Raise :class:`LineError` unless ``chip`` is a GPIO character device."""
    import gpiod

    if not os.path.exists(chip):
        raise LineError(errno.ENOENT, f"{where}: no such GPIO chip {chip}")
    if not gpiod.is_gpiochip_device(chip):
        raise LineError(errno.ENODEV, f"{where}: {chip} is not a GPIO chip")


def open_gpiod_line(spec: InputSettings, consumer: str) -> LineSource:
    """Request ``spec``'s line as an input with both-edge detection and monotonic kernel timestamps."""
    import gpiod

    where = spec.where
    check_chip(spec.chip, where)
    try:
        chip = gpiod.Chip(spec.chip)
    except OSError as exc:
        raise LineError(exc.errno or errno.EIO, f"{where}: cannot open {spec.chip}: {exc.strerror}") from exc
    with chip:
        offset = _offset(chip, spec.line, where)
        info = chip.get_line_info(offset)
        if info.used:
            raise LineError(errno.EBUSY, f"{where}: line is busy (used by {info.consumer or 'the kernel'!r})")
        settings = gpiod.LineSettings(
            direction=gpiod.line.Direction.INPUT,
            edge_detection=gpiod.line.Edge.BOTH,
            bias=_bias(spec.bias),  # type: ignore[arg-type]
            active_low=spec.active_low,
            debounce_period=timedelta(0),  # debounced by the driver, the same way on every chip
            event_clock=gpiod.line.Clock.MONOTONIC,
        )
        try:
            request = chip.request_lines({offset: settings}, consumer=consumer)
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                raise LineError(errno.EBUSY, f"{where}: line is busy (requested by another program)") from exc
            raise LineError(exc.errno or errno.EIO, f"{where}: cannot request line: {exc.strerror}") from exc
    return GpiodLine(request, offset)


def _offset(chip: object, line: int | str, where: str) -> int:
    """The offset of ``line`` (an offset or a line name) on ``chip``, or a :class:`LineError`."""
    num_lines = chip.get_info().num_lines  # type: ignore[attr-defined]
    try:
        return int(chip.line_offset_from_id(line))  # type: ignore[attr-defined]
    except ValueError as exc:
        raise LineError(errno.ENOENT, f"{where}: no such line (the chip has {num_lines} lines)") from exc
    except OSError as exc:
        raise LineError(errno.ENOENT, f"{where}: no line named {line!r} (the chip has {num_lines} lines)") from exc
