"""The 433 MHz driver: a UART receiver/decoder module read with pyserial (asyncio, ``pyserial-asyncio-fast``).

Bytes from the module go through :class:`~drivers.rf433.frames.FrameParser`; each code frame is matched to a paired
device (the whole code for pendants, pull cords and smoke sensors; the EV1527 address for door sensors, whose data
bits say open or closed), the repeats of one press are swallowed by :class:`~drivers.rf433.burst.BurstFilter`, and
one reading per press goes to the sink in order. Unknown codes heard in the pairing window become candidates.

The module may be unplugged at any time: the port is then reported down (``sink.radio("rf433", False, ...)``) and
reopened with backoff until it is back. Garbage on the line is counted and logged briefly, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import serial
import serial_asyncio_fast
from pydantic import ValidationError

from core.clock import monotonic_ms
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
from drivers.rf433.burst import BurstFilter
from drivers.rf433.config import KINDS, Rf433Section
from drivers.rf433.frames import Frame, FrameParser, Garbage, ev1527
from drivers.rf433.pairing import PairingWindow

log = logging.getLogger(__name__)

#: How many garbage frames are logged (then only counted) per port opening.
LOG_GARBAGE = 10
DRAIN_TIMEOUT_S = 2.0


class _Receiver(asyncio.Protocol):
    """pyserial-asyncio's protocol: bytes to the driver, loss to an event."""

    def __init__(self, on_bytes: Callable[[bytes], None]) -> None:
        self._on_bytes = on_bytes
        self.lost = asyncio.Event()
        self.error = ""

    def data_received(self, data: bytes) -> None:
        self._on_bytes(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = str(exc) if exc else "closed"
        self.lost.set()


class Rf433Driver(Driver):
    """See the module docstring."""

    transport = "rf433"

    def __init__(self, settings: Rf433Section, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.settings = settings
        self._parser = FrameParser()
        self._bursts = BurstFilter(settings.burst_gap_ms)
        self._health = DriverHealth("rf433", "starting")
        self._queue: asyncio.Queue[Reading] = asyncio.Queue()
        self._pairing = PairingWindow(ctx.sink.pairing, settings.candidate_ttl_s)
        self._smoke: dict[str, int] = {}  # device id -> last frame heard (ms) while in alarm
        self._tasks: list[asyncio.Task[None]] = []
        self._transport: asyncio.BaseTransport | None = None
        self._radio_up: bool | None = None
        self._garbage_logged = 0
        self._stopped = False

    @classmethod
    def from_section(cls, section: dict[str, Any], ctx: DriverContext) -> Rf433Driver:
        try:
            settings = Rf433Section.model_validate(section)
        except ValidationError as exc:
            raise DriverConfigError(f"drivers.rf433: {exc}") from exc
        return cls(settings, ctx)

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="rf433-readings"),
            asyncio.create_task(self._port_loop(), name="rf433-port"),
            asyncio.create_task(self._smoke_loop(), name="rf433-smoke"),
        ]

    async def stop(self) -> None:
        self._stopped = True
        await self._pairing.aclose()
        sender, *others = self._tasks
        for task in others:
            task.cancel()
        if self._transport is not None:
            self._transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), DRAIN_TIMEOUT_S)
        sender.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._health.state = "stopped"

    # ------------------------------------------------------------------ the port

    async def _port_loop(self) -> None:
        """Open the module, read until it is lost, report, reopen with backoff."""
        delay = self.settings.retry_min_s
        loop = asyncio.get_running_loop()
        while True:
            receiver = _Receiver(self._on_bytes)
            try:
                transport, _ = await serial_asyncio_fast.create_serial_connection(
                    loop,
                    functools.partial(_same, receiver),
                    self.settings.port,
                    baudrate=self.settings.baudrate,
                    exclusive=True,  # one reader: a second gateway process would steal half the frames
                )
            except (OSError, serial.SerialException, ValueError) as exc:
                await self._down(f"receiver {self.settings.port} not available: {exc}"[:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            self._transport = transport
            self._parser.reset()
            self._garbage_logged = 0
            delay = self.settings.retry_min_s
            await self._up()
            await receiver.lost.wait()
            self._transport = None
            transport.close()
            if self._stopped:
                return
            self._count("port_lost")
            await self._down(f"receiver {self.settings.port} lost: {receiver.error}"[:200])
            await asyncio.sleep(delay)

    async def _up(self) -> None:
        self._health.state, self._health.detail = "up", f"receiver on {self.settings.port}"
        log.info("rf433: receiver on %s", self.settings.port)
        await self._radio(True, f"receiver on {self.settings.port}")

    async def _down(self, reason: str) -> None:
        self._health.state, self._health.detail = "down", reason
        if self._radio_up is not False:
            log.error("rf433: %s", reason)
        await self._radio(False, reason)

    async def _radio(self, up: bool, reason: str) -> None:
        if up == self._radio_up:
            return
        self._radio_up = up
        try:
            await self.ctx.sink.radio("rf433", up, reason)
        except (ReadingRefused, LookupError, ValueError) as exc:
            log.error("rf433: could not report the receiver %s: %s", "up" if up else "down", exc)

    # ------------------------------------------------------------------ frames

    def _on_bytes(self, data: bytes) -> None:
        for item in self._parser.feed(data):
            if isinstance(item, Garbage):
                self._count("frames_bad")
                if self._garbage_logged < LOG_GARBAGE:
                    self._garbage_logged += 1
                    log.warning("rf433: %s: %r", item.why, item.data[:24])
            else:
                self._on_frame(item)

    def _on_frame(self, frame: Frame) -> None:
        self._count("frames")
        now = monotonic_ms()
        device, key = self._device_for(frame)
        new = self._bursts.new(key, now)
        if not new:
            self._count("frames_repeated")
        if device is None:
            if new:
                self._count("unknown_codes")
                self._bursts.prune(now)
            self._pairing.heard(frame, new)
            return
        spec = KINDS.get(str(device.params.get("kind", "")))
        if spec is None:
            return
        if spec.capabilities == ("smoke",):
            if device.id in self._smoke:
                self._smoke[device.id] = now  # still in alarm
            elif new:  # (the rest of the burst that paired it is not an alarm)
                self._emit(device, "smoke", True, frame)
                self._smoke[device.id] = now
        elif new and spec.capabilities == ("press",):
            self._emit(device, "press", True, frame)
        elif new and spec.capabilities == ("contact",):
            data = ev1527(frame)[1]
            if data == device.params.get("open_data"):
                self._emit(device, "contact", "open", frame)
            elif data == device.params.get("closed_data"):
                self._emit(device, "contact", "closed", frame)
            else:
                self._count("unknown_data")

    def _device_for(self, frame: Frame) -> tuple[Device | None, str]:
        """The paired device a frame belongs to, and the key its bursts are counted under."""
        address = f"{ev1527(frame)[0]:05x}" if frame.bits == 24 else None
        for device in self.ctx.registry.all("rf433"):
            if device.params.get("match") == "code" and device.address == frame.hex:
                return device, frame.hex
            if address is not None and device.params.get("match") == "address" and device.address == address:
                return device, frame.hex  # open and closed are separate bursts
        return None, frame.hex

    def _emit(self, device: Device, capability: str, value: Any, frame: Frame) -> None:
        self._count("readings")
        meta = {"code": frame.hex, "source": frame.source}
        self._queue.put_nowait(Reading(device.id, capability, value, meta=meta))

    async def _smoke_loop(self) -> None:
        """A smoke sensor in alarm keeps sending; silent for ``smoke_clear_s`` = cleared."""
        while True:
            await asyncio.sleep(min(1.0, self.settings.smoke_clear_s / 4))
            now = monotonic_ms()
            for device_id, last in list(self._smoke.items()):
                if now - last >= self.settings.smoke_clear_s * 1000:
                    del self._smoke[device_id]
                    self._queue.put_nowait(Reading(device_id, "smoke", False, meta={"cleared_by": "silence"}))

    async def _send_loop(self) -> None:
        while True:
            reading = await self._queue.get()
            try:
                await self.ctx.sink.reading(reading)
            except (LookupError, ValueError) as exc:
                self._count("readings_rejected")
                log.warning("rf433: reading %s/%s rejected: %s", reading.device, reading.capability, exc)
            except ReadingRefused as exc:
                self._count("readings_failed")
                log.error("rf433: reading %s/%s not stored: %s", reading.device, reading.capability, exc)
            finally:
                self._queue.task_done()

    def _count(self, name: str) -> None:
        self._health.counters[name] = self._health.counters.get(name, 0) + 1

    # ------------------------------------------------------------------ driver interface

    def health(self) -> DriverHealth:
        return self._health

    async def start_pairing(self, seconds: int) -> None:
        self._pairing.open(seconds)

    def candidates(self) -> list[str]:
        """Codes heard in the pairing window that may be adopted (what the add page lists)."""
        return list(self._pairing.candidates)

    async def stop_pairing(self) -> None:
        self._pairing.close()

    async def adopt(self, address: str, options: Mapping[str, Any]) -> Device:
        """Add a code heard in the pairing window. ``options``: ``type`` (call_button, pull_cord, door, smoke),
        ``name``, ``room``; for doors ``open_data`` / ``closed_data`` (hex digit) when the sensor's differ from the
        defaults (the data bits heard while pairing, i.e. the door being opened, are taken as *open*)."""
        kind = str(options.get("type") or "call_button")
        spec = KINDS.get(kind)
        if spec is None:
            raise DriverConfigError(f"rf433: type must be one of {', '.join(KINDS)}, not {kind!r}")
        if options.get("secret"):
            raise DriverConfigError("rf433: a 433 MHz code has no bindkey; leave it empty")
        cand = self._pairing.take(address)
        if cand is None:
            raise DriverConfigError(f"rf433: code {address!r} was not heard recently: press the device, then add it")
        frame = cand.frame
        params: dict[str, Any] = {"kind": kind, "match": spec.match, "code": frame.hex, "bits": frame.bits}
        device_address = frame.hex
        if spec.match == "address":
            if frame.bits != 24:
                raise DriverConfigError("rf433: a door sensor must send 24-bit EV1527 codes")
            ev_address, data = ev1527(frame)
            device_address = f"{ev_address:05x}"
            params["open_data"] = _nibble(options.get("open_data"), data)
            closed = _nibble(options.get("closed_data"), self.settings.door_closed_data)
            params["closed_data"] = None if closed == params["open_data"] else closed
        device = Device(
            id=f"rf433-{device_address}",
            type=spec.device_type,
            transport="rf433",
            name=str(options.get("name") or "").strip() or f"433 MHz {spec.device_type}",
            room=str(options.get("room") or "").strip(),
            capabilities=list(spec.capabilities),
            address=device_address,
            params=params,
        )
        await self.ctx.registry.upsert(device)
        self.ctx.sink.pairing(PairingUpdate("rf433", "ready", device.id, info={"type": device.type, "code": frame.hex}))
        log.info("rf433: added %s as %s (%s)", frame.hex, device.id, kind)
        return device

    async def remove(self, device_id: str) -> None:
        self._smoke.pop(device_id, None)
        await self.ctx.registry.remove(device_id)


def _nibble(raw: Any, default: int | None) -> int | None:
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw), 16)
    except ValueError:
        raise DriverConfigError(f"rf433: data bits must be one hex digit, not {raw!r}") from None
    if not 0 <= value <= 0xF:
        raise DriverConfigError(f"rf433: data bits must be one hex digit, not {raw!r}")
    return value


def _same(receiver: _Receiver) -> _Receiver:
    return receiver
