"""Stimuli at the rig's edges: one small class per edge, each able to make a device raise and clear.

- ``sim``: the simulated home, through the gateway's loopback inject hook (``POST /api/sim/readings``);
- ``zigbee``: the ZNP coordinator simulator's control port (the real Zigbee driver hears a real frame);
- ``ble``: the mocked BlueZ's control port (bleak hears a real, encrypted BTHome advert);
- ``gpio``: a real output line wired to the device's input, pulsed (real rigs).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

import aiohttp

from hil_tests.rig import DeviceSpec

#: What a device kind reports when it raises, as (capability, value), and the event kind the platform sees.
RAISE: dict[str, tuple[str, Any, str]] = {
    "call_button": ("press", True, "alarm.emergency_call"),
    "pull_cord": ("press", True, "alarm.emergency_call"),
    "smoke": ("smoke", True, "alarm.smoke"),
    "gas": ("gas", True, "alarm.gas"),
    "leak": ("leak", True, "alarm.leak"),
    "door": ("contact", "open", "state.door"),
    "motion": ("motion", True, "state.motion"),
}
#: How a latched condition is cleared again, so the next sample is a new alarm.
CLEAR: dict[str, tuple[str, Any]] = {
    "smoke": ("smoke", False),
    "gas": ("gas", False),
    "leak": ("leak", False),
    "door": ("contact", "closed"),
}


class Edge(Protocol):
    async def trigger(self, device: DeviceSpec, trace: str) -> None: ...

    async def clear(self, device: DeviceSpec, trace: str) -> None: ...


async def control(address: tuple[str, int], command: str, timeout: float = 10.0) -> str:
    """One line to a simulator's control port; its one-line answer (``ok ...``), else an error."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
    try:
        writer.write(command.encode() + b"\n")
        await writer.drain()
        answer = (await asyncio.wait_for(reader.readline(), timeout)).decode().strip()
    finally:
        writer.close()
    if not answer.startswith("ok"):
        raise RuntimeError(f"{command!r}: {answer}")
    return answer


class SimEdge:
    def __init__(self, gateway_url: str, device_ids: dict[str, str]) -> None:
        self.url = gateway_url + "/api/sim/readings"
        self.ids = device_ids

    async def _post(self, device: DeviceSpec, capability: str, value: Any, trace: str) -> None:
        body = {"device": self.ids[device.name], "capability": capability, "value": value, "trace": trace}
        async with aiohttp.ClientSession() as http, http.post(self.url, json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"inject refused: {resp.status} {await resp.text()}")

    async def trigger(self, device: DeviceSpec, trace: str) -> None:
        capability, value, _ = RAISE[device.kind]
        await self._post(device, capability, value, trace)

    async def clear(self, device: DeviceSpec, trace: str) -> None:
        if device.kind in CLEAR:
            await self._post(device, *CLEAR[device.kind], trace)

    async def tamper(self, device: DeviceSpec, on: bool, trace: str) -> None:
        await self._post(device, "tamper", on, trace)


class ZigbeeSimEdge:
    """Simulated IAS devices; names are the simulator's (``smoke-1``...), mapped from rig names at pairing."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sim_names: dict[str, str] = {}

    async def trigger(self, device: DeviceSpec, trace: str) -> None:
        await control(self.address, f"alarm {self.sim_names[device.name]}")

    async def clear(self, device: DeviceSpec, trace: str) -> None:
        await control(self.address, f"restore {self.sim_names[device.name]}")

    async def send(self, command: str) -> str:
        return await control(self.address, command)


class BleSimEdge:
    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address

    async def trigger(self, device: DeviceSpec, trace: str) -> None:
        key = f" key={device.bindkey}" if device.bindkey else ""
        await control(self.address, f"press {device.mac} press{key}")

    async def clear(self, device: DeviceSpec, trace: str) -> None:
        return None


class GpioEdge:
    """A real output line wired across the device's contacts (relay), pulsed like a finger on a button."""

    async def trigger(self, device: DeviceSpec, trace: str) -> None:
        await asyncio.to_thread(self._pulse, device)

    async def clear(self, device: DeviceSpec, trace: str) -> None:
        return None

    @staticmethod
    def _pulse(device: DeviceSpec) -> None:
        import time

        import gpiod
        from gpiod.line import Direction, Value

        assert device.chip is not None and device.line is not None
        settings = gpiod.LineSettings(direction=Direction.OUTPUT, output_value=Value.INACTIVE)
        with gpiod.request_lines(device.chip, consumer="fbgw-hil", config={device.line: settings}) as req:
            req.set_value(device.line, Value.ACTIVE)
            time.sleep(device.pulse_ms / 1000)
            req.set_value(device.line, Value.INACTIVE)


def dump(obj: Any) -> bytes:
    return json.dumps(obj).encode()
