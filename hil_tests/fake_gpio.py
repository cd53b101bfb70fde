"""Fake GPIO wiring for the simulated rig: the gpio driver's pipe-backed fake lines, across two processes.

The gpio driver's tests feed it :class:`tests.drivers.gpio.fakes.PipeLine`: a ``LineSource`` whose edge
events travel through a real pipe, watched with ``loop.add_reader`` exactly like a gpiod request. Here the
pipe is a named FIFO, so the gateway under test (its own ``fbgw run`` process, killable with SIGKILL) reads
its inputs from it while the suite, in another process, writes the edges: the suite plays the relay that a
real rig wires across the pull cord's contacts.

Gateway side: ``python -m hil_tests.fake_gpio --lines DIR [fbgw arguments...]`` installs :class:`FifoLines`
as the gpio driver's ``default_line_factory`` and then runs the ``fbgw`` command line unchanged. Inputs whose
(chip, line) has no FIFO in ``DIR`` go to the real gpiod opener, so their errors are the production ones.

Suite side: :class:`FakeWiring` presses, holds and releases an input by writing logical levels (the kernel
applies ``active_low`` before the driver sees a level, so the fake lines carry logical levels too).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import sys
import time
from pathlib import Path

from drivers.gpio.config import InputSettings
from drivers.gpio.lines import Edge, LineSource, open_gpiod_line
from tests.drivers.gpio.fakes import _RECORD, PipeLine

#: A contact that bounces: the burst the suite writes for each change (the driver debounces it).
BOUNCE = 3
BOUNCE_GAP_NS = 300_000


def fifo_path(directory: Path, chip: str, line: int | str) -> Path:
    """Where the FIFO of one (chip, line) lives."""
    return directory / f"{Path(chip).name}-{line}"


def idle_level(spec: InputSettings) -> bool:
    """The logical level of an input at rest: a normally-closed loop is closed (active), an open one is not."""
    return spec.contact == "nc"


class FifoLine(PipeLine):
    """Gateway side: a :class:`PipeLine` whose pipe is a named FIFO written by another process.

    It holds a write end of its own, so the FIFO never reads as end-of-file (a removed chip) when the
    suite's writer closes between two stimuli.
    """

    def __init__(self, path: Path, level: bool) -> None:
        self._r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._w = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        self.level = level
        self.seqno = 0
        self.closed = False
        self._buf = b""

    def read_edges(self) -> list[Edge]:
        edges = super().read_edges()
        if edges:
            self.level = edges[-1].active
        return edges


class FifoLines:
    """A gpio line factory: FIFOs in ``directory`` stand for lines; every other line is a real gpiod one."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __call__(self, spec: InputSettings, consumer: str) -> LineSource:
        path = fifo_path(self.directory, spec.chip, spec.line)
        if path.exists():
            return FifoLine(path, idle_level(spec))
        return open_gpiod_line(spec, consumer)


class FakeWiring:
    """Suite side: the relays of the simulated rig, one FIFO per wired input."""

    def __init__(self, directory: Path, inputs: list[InputSettings]) -> None:
        self.directory = directory
        self.inputs = {spec.name: spec for spec in inputs}
        self._seqno: dict[str, int] = {}
        directory.mkdir(parents=True, exist_ok=True)
        for spec in inputs:
            path = fifo_path(directory, spec.chip, spec.line)
            if not path.exists():
                os.mkfifo(path, 0o600)

    def _write(self, name: str, asserted: bool) -> None:
        spec = self.inputs[name]
        level = asserted != idle_level(spec)
        try:
            fd = os.open(fifo_path(self.directory, spec.chip, spec.line), os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise RuntimeError(f"gpio input {name}: the gateway is not reading its line") from exc
            raise
        try:
            now, out = time.monotonic_ns(), b""
            levels = [level, not level] * (BOUNCE - 1) + [level]  # bounces, then the final level
            for i, lvl in enumerate(levels):
                seq = self._seqno[name] = self._seqno.get(name, 0) + 1
                out += _RECORD.pack(lvl, now + i * BOUNCE_GAP_NS, seq)
            os.write(fd, out)
        finally:
            os.close(fd)

    async def set(self, name: str, asserted: bool) -> None:
        """Move the contact: asserted (pulled, pressed, in alarm) or back to rest."""
        await asyncio.to_thread(self._write, name, asserted)

    async def pulse(self, name: str, hold_s: float) -> None:
        """A press: asserted for ``hold_s``, then released."""
        await self.set(name, True)
        await asyncio.sleep(hold_s)
        await self.set(name, False)


class LoggedOutputs:
    """Gateway side: the feedback LED and buzzer as fake output lines; each change is a line
    ``<CLOCK_MONOTONIC ns> <output> <0|1>`` in a file the suite reads (what a real rig's read-back lines give)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._levels: dict[str, bool] = {}

    def set(self, output: str, on: bool) -> None:
        if self._levels.get(output) == on:
            return
        self._levels[output] = on
        os.write(self._fd, f"{time.monotonic_ns()} {output} {int(on)}\n".encode())

    def close(self) -> None:
        os.close(self._fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hil_tests.fake_gpio", description=__doc__.split("\n")[0], allow_abbrev=False
    )
    parser.add_argument("--lines", required=True, type=Path, help="directory of the FIFOs standing for lines")
    parser.add_argument("--feedback-log", type=Path, help="the LED and buzzer outputs: their changes go here")
    args, rest = parser.parse_known_args(argv)

    import drivers.gpio
    from gateway.cli import main as fbgw
    from gateway.feedback import outputs

    drivers.gpio.default_line_factory = FifoLines(args.lines)
    if args.feedback_log is not None:
        log_path: Path = args.feedback_log
        outputs.open_outputs = lambda settings: (LoggedOutputs(log_path), [])
    return fbgw(rest)


if __name__ == "__main__":
    sys.exit(main())
