"""Stand-in Zigbee and BLE drivers for page tests: the real Driver interface, scripted radio behaviour.

FakeZigbee joins a device by itself a moment after pairing opens (joined -> interview -> enrolled -> ready),
like a Zigbee sensor after permit-join. FakeBle reports nearby candidates with RSSI and adopts the one the
technician picks, checking the bindkey like a BTHome v2 encrypted sensor would need.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from typing import Any

from core.devices import Device
from drivers.base import Driver, DriverConfigError, DriverContext, DriverHealth, PairingUpdate, Reading

_MAC = re.compile(r"^([0-9A-F]{2}:){5}[0-9A-F]{2}$")


class _Scripted(Driver):
    def __init__(self, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.tasks: list[asyncio.Task[None]] = []
        self.removed: list[str] = []
        self.pairing_opened: list[int] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def remove(self, device_id: str) -> None:
        self.removed.append(device_id)
        await self.ctx.registry.remove(device_id)

    def health(self) -> DriverHealth:
        return DriverHealth(self.transport, "up")

    def _emit(self, stage: Any, device: str | None = None, **kw: Any) -> None:
        self.ctx.sink.pairing(PairingUpdate(self.transport, stage, device, **kw))

    async def press(self, device_id: str, **meta: Any) -> None:
        """The technician presses a paired device: the radio reports it as the real driver would."""
        await self.ctx.sink.reading(Reading(device_id, "press", True, meta={"event": "press", **meta}))


class FakeZigbee(_Scripted):
    """Joins ``ieee`` at each pairing, or the next of ``queue`` (a second device in a second session).
    ``unplugged = True`` is a coordinator pulled out: health down, pairing fails as the real driver's does."""

    transport = "zigbee"
    DOWN = "coordinator not available: FileNotFoundError: [Errno 2] No such file or directory: '/dev/ttyUSB0'"

    def __init__(self, ctx: DriverContext, ieee: str = "00124b0001a2b3c4") -> None:
        super().__init__(ctx)
        self.ieee = ieee
        self.queue: list[str] = []
        self.unplugged = False
        self.identified: list[str] = []

    def health(self) -> DriverHealth:
        if self.unplugged:
            return DriverHealth(self.transport, "down", self.DOWN)
        return DriverHealth(self.transport, "up")

    async def identify(self, device_id: str) -> bool:
        self.identified.append(device_id)
        return True

    async def start_pairing(self, seconds: int) -> None:
        if self.unplugged:
            self._emit("failed", detail="Zigbee coordinator is not connected")
            return
        self.pairing_opened.append(seconds)
        self._emit("open", remaining_s=seconds)
        ieee = self.queue.pop(0) if self.queue else self.ieee
        dev_id = f"zb-{ieee}"

        async def join() -> None:
            await asyncio.sleep(0.2)
            self._emit("joined", dev_id, info={"ieee": ieee})
            await asyncio.sleep(0.2)
            self._emit("interview", dev_id, detail="IAS zone: emergency button")
            await asyncio.sleep(0.2)
            self._emit("enrolled", dev_id, detail="zone id 1")
            await self.ctx.registry.upsert(
                Device(
                    id=dev_id,
                    type="call_button",
                    transport="zigbee",
                    name=dev_id,
                    capabilities=["press", "battery"],
                    address=ieee,
                )
            )
            self._emit("ready", dev_id, info={"type": "call_button"})

        self.tasks.append(asyncio.create_task(join()))


class FakeBle(_Scripted):
    transport = "ble"
    CANDIDATES = (("A4:C1:38:00:11:22", "ATC_Button", -71), ("A4:C1:38:33:44:55", "BTHome Bed", -48))

    async def start_pairing(self, seconds: int) -> None:
        self.pairing_opened.append(seconds)
        self._emit("open", remaining_s=seconds)

        async def scan() -> None:
            for address, name, rssi in self.CANDIDATES:
                await asyncio.sleep(0.1)
                self._emit(
                    "candidate",
                    info={
                        "address": address,
                        "name": name,
                        "rssi": rssi,
                        "needs_bindkey": True,
                        "kind": "call_button",
                    },
                )

        self.tasks.append(asyncio.create_task(scan()))

    async def adopt(self, address: str, options: Mapping[str, Any]) -> Device:
        if not _MAC.match(address):
            raise DriverConfigError(f"ble: {address!r} is not a MAC address like A4:C1:38:00:11:22")
        secret = options.get("secret")
        if not secret:
            raise DriverConfigError("ble: this device sends encrypted adverts: enter its bindkey")
        dev = Device(
            id="ble-" + address.replace(":", "").lower(),
            type=str(options["type"]),
            transport="ble",
            name=str(options.get("name") or address),
            room=str(options.get("room") or ""),
            capabilities=["press", "battery"],
            address=address,
            secret=str(secret),
        )
        await self.ctx.registry.upsert(dev)
        self._emit("ready", dev.id, info={"type": dev.type})
        return dev


def attach(gw: Any, driver_cls: type[_Scripted]) -> _Scripted:
    """Add a scripted driver to a running gateway, as if it had been configured."""
    ctx = DriverContext(gateway_id=gw.id, state_dir=gw.state_dir, sink=gw.intake, registry=gw.registry)
    driver = driver_cls(ctx)
    gw.drivers[driver.transport] = driver
    return driver
