"""Test doubles for the GPIO driver.

:class:`PipeLine` is a :class:`drivers.gpio.lines.LineSource` whose edge events travel through a real
``os.pipe``: the driver watches the read end with ``loop.add_reader`` exactly as it watches a gpiod request's
descriptor, so the asyncio reader path under test is the real one. Levels are logical (the kernel applies
active-low before the driver sees them). :class:`FakeLines` is a line factory that serves configured
pipe lines and hands every other (chip, line) to the real gpiod opener, so "missing chip" errors come from
the production code.
"""

from __future__ import annotations

import asyncio
import errno
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.base import PairingUpdate, Reading
from drivers.gpio.config import InputSettings
from drivers.gpio.lines import Edge, LineError, LineSource, open_gpiod_line

_RECORD = struct.Struct("<?qQ")  # active, ts_ns, seqno


class PipeLine:
    """One fake input line; :meth:`edge` writes an edge event into the pipe."""

    def __init__(self, level: bool = False) -> None:
        self._r, self._w = os.pipe()
        self.level = level
        self.seqno = 0
        self.closed = False
        self._buf = b""

    # -- LineSource
    def fileno(self) -> int:
        return self._r

    def read_edges(self) -> list[Edge]:
        data = os.read(self._r, 4096)
        if not data:
            raise OSError(errno.ENODEV, "No such device")  # what a read returns when a chip goes away
        self._buf += data
        edges = []
        while len(self._buf) >= _RECORD.size:
            active, ts_ns, seqno = _RECORD.unpack_from(self._buf)
            self._buf = self._buf[_RECORD.size :]
            edges.append(Edge(active, ts_ns, seqno))
        return edges

    def get_value(self) -> bool:
        return self.level

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._r)
            if self._w >= 0:
                os.close(self._w)
                self._w = -1

    # -- test side
    def edge(self, active: bool, ts_ns: int | None = None) -> int:
        """Queue one edge to level ``active``; returns its kernel-style timestamp."""
        return self.edges([active], ts_ns)[0]

    def edges(self, levels: list[bool], ts_ns: int | None = None, gap_ns: int = 200_000) -> list[int]:
        """Queue a burst of edges in one write (as the kernel queues a bouncing contact)."""
        start = time.monotonic_ns() if ts_ns is None else ts_ns
        out, stamps = b"", []
        for i, level in enumerate(levels):
            self.seqno += 1
            stamp = start + i * gap_ns
            stamps.append(stamp)
            out += _RECORD.pack(level, stamp, self.seqno)
            self.level = level
        os.write(self._w, out)
        return stamps

    def unplug(self) -> None:
        """Close the writing end: the next read fails like a read from a removed chip."""
        os.close(self._w)
        self._w = -1


@dataclass
class FakeLines:
    """A line factory: configured (chip, line) pairs are pipe lines; anything else goes to real gpiod."""

    lines: dict[tuple[str, str], PipeLine] = field(default_factory=dict)
    failures: dict[tuple[str, str], LineError] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, chip: str, line: int | str, level: bool = False) -> PipeLine:
        pipe = PipeLine(level)
        self.lines[(chip, str(line))] = pipe
        return pipe

    def __call__(self, spec: InputSettings, consumer: str) -> LineSource:
        key = (spec.chip, str(spec.line))
        self.requests.append((spec.chip, str(spec.line), consumer))
        if key in self.failures:
            raise self.failures[key]
        if key in self.lines:
            pipe = self.lines[key]
            if pipe.closed:  # a released line is requested again: a fresh pipe at the same level
                pipe = self.lines[key] = PipeLine(pipe.level)
            return pipe
        return open_gpiod_line(spec, consumer)

    def close(self) -> None:
        for pipe in self.lines.values():
            pipe.close()


class RecordingSink:
    """A :class:`drivers.base.DriverSink` that records what a driver says (a unit-test double)."""

    def __init__(self, reject: Callable[[Reading], Exception | None] | None = None) -> None:
        self.readings: list[Reading] = []
        self.availability_calls: list[tuple[str, bool, str]] = []
        self.radio_calls: list[tuple[str, bool, str]] = []
        self.pairings: list[PairingUpdate] = []
        self._reject = reject
        self._changed = asyncio.Event()

    async def reading(self, reading: Reading) -> None:
        if self._reject is not None and (exc := self._reject(reading)) is not None:
            raise exc
        self.readings.append(reading)
        self._changed.set()

    async def availability(self, device_id: str, online: bool, reason: str = "") -> None:
        self.availability_calls.append((device_id, online, reason))
        self._changed.set()

    async def radio(self, transport: str, up: bool, reason: str = "") -> None:
        self.radio_calls.append((transport, up, reason))
        self._changed.set()

    def pairing(self, update: PairingUpdate) -> None:
        self.pairings.append(update)

    def of(self, capability: str, device: str | None = None) -> list[Reading]:
        return [r for r in self.readings if r.capability == capability and device in (None, r.device)]

    def values(self, device: str | None = None) -> list[tuple[str, Any, str]]:
        """(capability, value, meta event) of every reading, in order."""
        return [(r.capability, r.value, r.meta.get("event", "")) for r in self.readings if device in (None, r.device)]

    async def wait_for(self, predicate: Callable[[RecordingSink], bool], timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()


class RecordingOutputs:
    """A feedback OutputSink that records (loop time, output, on)."""

    def __init__(self) -> None:
        self.log: list[tuple[float, str, bool]] = []
        self.closed = False

    def set(self, output: str, on: bool) -> None:
        self.log.append((asyncio.get_running_loop().time(), output, on))

    def close(self) -> None:
        self.closed = True

    def changes(self, output: str, since: float = 0.0) -> list[tuple[float, bool]]:
        """Level changes of one output from ``since`` on (repeated identical levels folded)."""
        out: list[tuple[float, bool]] = []
        for t, name, on in self.log:
            if name == output and t >= since and (not out or out[-1][1] != on):
                out.append((t, on))
        return out

    def level(self, output: str) -> bool | None:
        levels = [on for _, name, on in self.log if name == output]
        return levels[-1] if levels else None
