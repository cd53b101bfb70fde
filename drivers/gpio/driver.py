"""The GPIO driver: wired inputs read through the kernel's GPIO character device, on the event loop.

Each configured input is requested on its own (so one missing or busy line does not take the others down),
watched with ``loop.add_reader`` on the request's file descriptor, and fed to its :class:`Channel`, which
debounces and decides what to report. Readings go through one queue to ``ctx.sink`` in order, so a slow
commit never stalls the reader callbacks.

A line that cannot be requested (no such chip or line, busy) does not make :meth:`GpioDriver.start` fail:
the error names the input, chip and line; it is reported as ``sink.radio("gpio", False, reason)``, the
device is marked offline, the health turns ``degraded`` (or ``down`` if no input works), and the line is
retried every ``retry_s`` in the background.

Inputs that are not added (``pairing = "manual"`` in the config, or removed on the page) leave their line free
and are offered by :meth:`GpioDriver.start_pairing`; :meth:`GpioDriver.adopt` adds one with the technician's
name and room (see :mod:`drivers.gpio.pairing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from core.devices import Device
from drivers.base import (
    Driver,
    DriverConfigError,
    DriverContext,
    DriverHealth,
    PairingUpdate,
    Reading,
    ReadingRefused,
)
from drivers.gpio.channel import Channel
from drivers.gpio.config import GpioSection, InputSettings
from drivers.gpio.lines import LineError, LineFactory, LineSource, open_gpiod_line
from drivers.gpio.pairing import InputStates, PairingSession

log = logging.getLogger(__name__)

#: How long ``stop`` waits for readings already queued to reach the sink.
DRAIN_TIMEOUT_S = 2.0


@dataclass(slots=True)
class _Input:
    """Runtime state of one configured input."""

    spec: InputSettings
    source: LineSource | None = None
    channel: Channel | None = None
    error: str = ""
    added: bool = True  # False: not added (manual pairing, or removed on the page): the line is left free


class GpioDriver(Driver):
    """Wired inputs on GPIO lines. See the module docstring."""

    transport = "gpio"

    def __init__(self, settings: GpioSection, ctx: DriverContext, line_factory: LineFactory | None = None) -> None:
        super().__init__(ctx)
        self.settings = settings
        self._factory: LineFactory = line_factory or open_gpiod_line
        self._inputs = {spec.name: _Input(spec) for spec in settings.inputs}
        self._health = DriverHealth("gpio", "starting")
        self._queue: asyncio.Queue[Reading] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._retry: asyncio.Task[None] | None = None
        self._reports: set[asyncio.Task[None]] = set()
        self._reported_errors: frozenset[str] = frozenset()
        self._offline: set[str] = set()  # inputs whose device was reported offline
        self._stopped = False
        self._states = InputStates(ctx.state_dir / "gpio" / "inputs.json")
        self._pairing = PairingSession(ctx.sink.pairing, self._not_added)

    @classmethod
    def from_section(
        cls, section: dict[str, Any], ctx: DriverContext, line_factory: LineFactory | None = None
    ) -> GpioDriver:
        try:
            settings = GpioSection.model_validate(section)
        except ValidationError as exc:
            raise DriverConfigError(f"drivers.gpio: {exc}") from exc
        return cls(settings, ctx, line_factory)

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        await asyncio.to_thread(self._states.load)
        for inp in self._inputs.values():
            inp.added = self._states.added(inp.spec)
            if inp.added:
                await self._register(inp.spec)
            else:
                await self._forget_device(inp.spec)
        self._sender = asyncio.create_task(self._send_loop(), name="gpio-readings")
        for inp in self._inputs.values():
            if inp.added:
                await self._open(inp)
        await self._report()

    async def stop(self) -> None:
        self._stopped = True
        await self._pairing.aclose()
        for task in (self._retry, *self._reports):
            if task is not None:
                task.cancel()
        for inp in self._inputs.values():
            self._release(inp)
        if self._sender is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), DRAIN_TIMEOUT_S)
            self._sender.cancel()
        for task in (self._sender, self._retry, *self._reports):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._health.state = "stopped"

    async def _register(self, spec: InputSettings, name: str | None = None, room: str | None = None) -> Device:
        """Add the input's device if absent; keep a technician's name/room, refresh the wiring.

        ``name``/``room`` (a technician adding it on the page) replace whatever the registry had."""
        wiring: dict[str, Any] = {
            "type": spec.spec.device_type,
            "capabilities": spec.capabilities,
            "address": spec.address,
            "params": {
                "kind": spec.kind,
                "contact": spec.contact,
                "active_low": spec.active_low,
                "bias": spec.bias,
                "debounce_ms": spec.debounce_ms,
            },
        }
        existing = self.ctx.registry.get(spec.device_id)
        if existing is None or name is not None or room is not None:
            device = Device(
                id=spec.device_id,
                transport="gpio",
                name=name or (existing.name if existing else "") or spec.label or spec.name,
                room=spec.room if room is None else room,
                **wiring,
            )
            # From config alone (no technician), the device must work even if the card refuses the write.
            await self.ctx.registry.upsert(device, must_persist=name is not None or room is not None)
            return device
        if any(getattr(existing, key) != value for key, value in wiring.items()):
            return await self.ctx.registry.update(spec.device_id, must_persist=False, **wiring)
        return existing

    async def _forget_device(self, spec: InputSettings) -> None:
        """An input that is not added has no device (also after a crash between the two writes of a removal)."""
        existing = self.ctx.registry.get(spec.device_id)
        if existing is not None and existing.transport == "gpio":
            await self.ctx.registry.remove(spec.device_id)

    # ------------------------------------------------------------------ lines

    async def _open(self, inp: _Input) -> bool:
        """Request the input's line and start watching it; on failure remember why."""
        try:
            return await self._try_open(inp)
        except LineError as exc:
            inp.error = str(exc)
            self._count("line_errors")
            log.error("%s", inp.error)
            return False

    async def _try_open(self, inp: _Input) -> bool:
        """Request the input's line and start watching it; raises :class:`LineError` naming the line."""
        try:
            source, level = await asyncio.to_thread(self._request, inp.spec)
        except LineError:
            raise
        except (OSError, ValueError) as exc:
            raise LineError(getattr(exc, "errno", None) or errno.EIO, f"{inp.spec.where}: {exc}") from exc
        if self._stopped or not inp.added:
            source.close()
            return False
        inp.source, inp.error = source, ""
        inp.channel = Channel(inp.spec, self._queue.put_nowait, self._count)
        inp.channel.begin(level)
        asyncio.get_running_loop().add_reader(source.fileno(), self._on_readable, inp)
        log.info("%s: watching (%s, %s)", inp.spec.where, inp.spec.kind, inp.spec.contact)
        return True

    def _request(self, spec: InputSettings) -> tuple[LineSource, bool]:
        """Blocking part of opening a line (runs in a worker thread)."""
        source = self._factory(spec, self.settings.consumer)
        try:
            os.set_blocking(source.fileno(), False)
            return source, source.get_value()
        except OSError:
            source.close()
            raise

    def _on_readable(self, inp: _Input) -> None:
        """The request's descriptor is readable: read the queued edges (never blocks: O_NONBLOCK)."""
        if inp.source is None or inp.channel is None:
            return
        try:
            edges = inp.source.read_edges()
        except BlockingIOError:
            self._count("spurious_wakeups")
            return
        except OSError as exc:
            self._lost(inp, f"{inp.spec.where}: line lost: {exc.strerror or exc}")
            return
        if not edges:
            self._count("spurious_wakeups")
            return
        inp.channel.on_edges(edges)

    def _lost(self, inp: _Input, reason: str) -> None:
        log.error("%s", reason)
        self._count("line_errors")
        self._release(inp)
        inp.error = reason
        task = asyncio.get_running_loop().create_task(self._report(), name="gpio-report")
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    def _release(self, inp: _Input) -> None:
        if inp.channel is not None:
            inp.channel.close()
            inp.channel = None
        if inp.source is not None:
            with contextlib.suppress(OSError, ValueError):
                asyncio.get_running_loop().remove_reader(inp.source.fileno())
            try:
                inp.source.close()
            except OSError as exc:
                log.warning("%s: release failed: %s", inp.spec.where, exc)
            inp.source = None

    # ------------------------------------------------------------------ reporting

    async def _report(self) -> None:
        """Bring health, device availability and the radio state in line with which inputs work."""
        failed = {name: inp.error for name, inp in self._inputs.items() if inp.error and inp.added}
        working = [inp for inp in self._inputs.values() if inp.source is not None]
        if not failed:
            free = len(self._not_added())
            self._health.state = "up"
            self._health.detail = f"{len(working)} input(s)" + (f", {free} line(s) not added" if free else "")
        else:
            self._health.state = "degraded" if working else "down"
            self._health.detail = "; ".join(failed.values())
        errors = frozenset(failed.values())
        if errors == self._reported_errors:
            return
        self._reported_errors = errors
        try:
            for name, inp in self._inputs.items():
                if name in failed and name not in self._offline:
                    self._offline.add(name)
                    await self.ctx.sink.availability(inp.spec.device_id, False, failed[name])
                elif name not in failed and name in self._offline and inp.source is not None:
                    self._offline.discard(name)
                    await self.ctx.sink.availability(inp.spec.device_id, True, "line requested")
            if errors:
                await self.ctx.sink.radio("gpio", False, self._health.detail)
            else:
                await self.ctx.sink.radio("gpio", True, "all inputs requested")
        except (ReadingRefused, LookupError, ValueError) as exc:  # the outbox refused: logged there; keep going
            log.error("gpio: could not report line state: %s", exc)
        if errors and self.settings.retry_s and (self._retry is None or self._retry.done()):
            self._retry = asyncio.create_task(self._retry_loop(), name="gpio-retry")

    async def _retry_loop(self) -> None:
        """Retry failed lines (a USB GPIO expander plugged in late, a line freed by another program)."""
        while any(inp.error and inp.added for inp in self._inputs.values()):
            await asyncio.sleep(self.settings.retry_s)
            for inp in self._inputs.values():
                if inp.error and inp.added and inp.source is None:
                    await self._open(inp)
            await self._report()

    async def _send_loop(self) -> None:
        """Hand readings to the sink one at a time, in the order the lines produced them."""
        while True:
            reading = await self._queue.get()
            try:
                await self.ctx.sink.reading(reading)
            except (LookupError, ValueError) as exc:  # unknown device / not in the vocabulary (removed?)
                self._count("readings_rejected")
                log.warning("gpio: reading %s/%s rejected: %s", reading.device, reading.capability, exc)
            except ReadingRefused as exc:  # the outbox could not commit; it has logged why
                self._count("readings_failed")
                log.error("gpio: reading %s/%s not stored: %s", reading.device, reading.capability, exc)
            finally:
                self._queue.task_done()

    def _count(self, name: str) -> None:
        self._health.counters[name] = self._health.counters.get(name, 0) + 1

    # ------------------------------------------------------------------ driver interface

    def health(self) -> DriverHealth:
        return self._health

    def channel(self, name: str) -> Channel | None:
        """The live state machine of an input (status pages, tests)."""
        inp = self._inputs.get(name)
        return inp.channel if inp is not None else None

    def _not_added(self) -> list[InputSettings]:
        return [inp.spec for inp in self._inputs.values() if not inp.added]

    async def start_pairing(self, seconds: int) -> None:
        """Offer the configured lines that are not added yet, for ``seconds`` (they are wired, not radioed)."""
        if not self._not_added():
            detail = "every GPIO input is already added; new lines are declared in [drivers.gpio]"
            self.ctx.sink.pairing(PairingUpdate("gpio", "failed", detail=detail))
            self.ctx.sink.pairing(PairingUpdate("gpio", "closed"))
            return
        self._pairing.open(seconds)

    async def stop_pairing(self) -> None:
        self._pairing.close()

    def _find(self, address: str) -> _Input | None:
        """The input named by its ``chip:line`` address, its name, or its device id."""
        wanted = address.strip()
        for inp in self._inputs.values():
            if wanted in (inp.spec.address, inp.spec.name, inp.spec.device_id):
                return inp
        return None

    async def adopt(self, address: str, options: Mapping[str, Any]) -> Device:
        """Add a configured line that is not added yet: request it, then register it with a name and room.

        ``address`` is the line's ``chip:line`` (as offered), or the input's name. ``options["type"]``, when
        given, must be what the line is wired as. Raises :class:`DriverConfigError` for a line that cannot be
        added, and :class:`LineError` (the line is left free) when the kernel refuses the request."""
        inp = self._find(address)
        if inp is None:
            free = ", ".join(spec.address for spec in self._not_added()) or "none"
            raise DriverConfigError(
                f"gpio: no input at {address[:64]!r} in [drivers.gpio]; lines that can be added: {free}"
            )
        spec = inp.spec
        if inp.added:
            raise DriverConfigError(f"gpio: {spec.where} is already added as {spec.device_id}")
        wanted = options.get("type")
        if wanted and wanted != spec.spec.device_type:
            raise DriverConfigError(
                f"gpio: {spec.where} is wired as kind {spec.kind!r}: its type is {spec.spec.device_type}, "
                f"not {wanted} (the kind is set in [drivers.gpio])"
            )
        if options.get("secret"):
            raise DriverConfigError("gpio: a wired input has no bindkey; leave it empty")
        name = str(options.get("name") or "").strip() or spec.label or spec.name
        room = str(options.get("room") or "").strip() or spec.room
        inp.added = True
        device = await self._register(spec, name=name, room=room)
        try:
            if not await self._try_open(inp):
                raise DriverConfigError("gpio: the driver is stopping")
            await self._states.set(spec, True)
        except (OSError, DriverConfigError):  # the line refused, or the choice could not be kept: leave it free
            inp.added = False
            self._release(inp)
            await self._forget_device(spec)
            raise
        await self._report()
        self.ctx.sink.pairing(
            PairingUpdate("gpio", "ready", spec.device_id, info={"type": device.type, "address": spec.address})
        )
        log.info("%s: added by a technician as %s (%s, room %r)", spec.where, spec.device_id, name, room)
        return device

    async def remove(self, device_id: str) -> None:
        """Release the line and forget the device; it stays removed across restarts until added again."""
        for inp in self._inputs.values():
            if inp.spec.device_id != device_id:
                continue
            if inp.spec.kind == "install_button":
                raise DriverConfigError(
                    f"gpio: {inp.spec.where} is the installer's button on the box; take it out of "
                    "[drivers.gpio] to remove it"
                )
            await self._states.set(inp.spec, False)  # first, so a crash now cannot bring the device back
            inp.added = False
            self._release(inp)
            inp.error = ""
            self._offline.discard(inp.spec.name)
        await self.ctx.registry.remove(device_id)
        await self._report()
