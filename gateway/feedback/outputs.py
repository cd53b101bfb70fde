"""Where feedback patterns go: an :class:`OutputSink` with named on/off outputs ("led", "buzzer").

The real sink drives GPIO output lines through libgpiod v2 (one request per line, so a bad buzzer line does
not cost the LED). Setting a line is one ioctl: cheap enough to do on the event loop. Tests use a recorder.
"""

from __future__ import annotations

import errno
import logging
from typing import Protocol

from gateway.settings.feedback import FeedbackSettings, Line

log = logging.getLogger(__name__)

OUTPUTS = ("led", "buzzer")


class OutputSink(Protocol):
    """Named on/off outputs. ``set`` must not block and should not raise (errors are the sink's to log)."""

    def set(self, output: str, on: bool) -> None: ...

    def close(self) -> None: ...


class NullOutputs:
    """No lights, no buzzer (none configured, or they failed to open)."""

    def set(self, output: str, on: bool) -> None:
        pass

    def close(self) -> None:
        pass


class OutputError(OSError):
    """An output line could not be requested; the message names the output, chip and line."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class GpiodOutputs:
    """LED and buzzer on GPIO output lines."""

    def __init__(self) -> None:
        self._lines: dict[str, tuple[object, int]] = {}  # output -> (line request, offset)
        self.errors = 0

    def add(self, output: str, chip: str, line: Line, active_low: bool, consumer: str = "fbgw-feedback") -> None:
        """Request ``line`` of ``chip`` as an output, initially off. Raises :class:`OutputError`."""
        import gpiod

        where = f"feedback {output} ({chip} line {line})"
        if not gpiod.is_gpiochip_device(chip):
            raise OutputError(errno.ENOENT, f"{where}: no such GPIO chip {chip}")
        try:
            with gpiod.Chip(chip) as handle:
                offset = handle.line_offset_from_id(line)
                settings = gpiod.LineSettings(
                    direction=gpiod.line.Direction.OUTPUT,
                    active_low=active_low,
                    output_value=gpiod.line.Value.INACTIVE,
                )
                request = handle.request_lines({offset: settings}, consumer=consumer)
        except ValueError as exc:
            raise OutputError(errno.ENOENT, f"{where}: no such line") from exc
        except OSError as exc:
            reason = "line is busy" if exc.errno == errno.EBUSY else (exc.strerror or str(exc))
            raise OutputError(exc.errno or errno.EIO, f"{where}: {reason}") from exc
        self._lines[output] = (request, offset)

    def set(self, output: str, on: bool) -> None:
        import gpiod

        entry = self._lines.get(output)
        if entry is None:
            return
        request, offset = entry
        try:
            value = gpiod.line.Value.ACTIVE if on else gpiod.line.Value.INACTIVE
            request.set_value(offset, value)  # type: ignore[attr-defined]
        except OSError as exc:
            self.errors += 1
            if self.errors == 1 or self.errors % 1000 == 0:
                log.error("feedback %s: cannot set line: %s (%d errors)", output, exc, self.errors)

    def close(self) -> None:
        import gpiod

        for request, offset in self._lines.values():
            try:
                request.set_value(offset, gpiod.line.Value.INACTIVE)  # type: ignore[attr-defined]
                request.release()  # type: ignore[attr-defined]
            except OSError as exc:
                log.warning("feedback: releasing an output failed: %s", exc)
        self._lines.clear()


def open_outputs(settings: FeedbackSettings) -> tuple[OutputSink, list[str]]:
    """The configured outputs and the errors of those that could not be opened (blocking: run in a thread).

    A failed line is left out; the others still work.
    """
    wanted = [
        ("led", settings.led_chip, settings.led_line, settings.led_active_low),
        ("buzzer", settings.buzzer_chip_path, settings.buzzer_line, settings.buzzer_active_low),
    ]
    wanted = [w for w in wanted if w[2] is not None]
    if not wanted:
        return NullOutputs(), []
    outputs = GpiodOutputs()
    errors: list[str] = []
    for output, chip, line, active_low in wanted:
        assert line is not None
        try:
            outputs.add(output, chip, line, active_low)
        except OutputError as exc:
            errors.append(str(exc))
    return outputs, errors
