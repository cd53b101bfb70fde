"""What a running rig needs before its scenarios: its edges, and its simulated Zigbee devices joined.

A rig's edge is present only if the rig has it: a scenario that needs an absent edge is skipped with the
reason (and the report says so). Zigbee devices of the simulated rig join during bring-up the way a
technician would add them: the platform opens the network with a ``permit_join`` command, each device joins,
and the gateway interviews and enrolls it.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from hil_tests.edges import (
    CALLS,
    ZIGBEE_KINDS,
    BleSimEdge,
    Edge,
    FakeContacts,
    GpioEdge,
    RelayContacts,
    Rf433SimEdge,
    SimEdge,
    ZigbeeSimEdge,
)
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform
from hil_tests.rig import DeviceSpec

#: The parameter of a per-device scenario on a rig without such a device (the scenario skips, with the reason).
NO_DEVICE = "none"


class RigEdges:
    """The rig's edges, built once the rig is up; ``None`` where the rig does not have one."""

    def __init__(self, rig: RigRunner) -> None:
        assert rig.gateway is not None
        self.sim = SimEdge(rig.gateway.url, rig.device_ids) if rig.rig.devices_on("sim") else None
        self.zigbee = ZigbeeSimEdge(rig.znp.control) if rig.znp else None
        self.ble = BleSimEdge(rig.bluez.control) if rig.bluez else None
        self.rf433 = Rf433SimEdge(rig.rf433.control) if rig.rf433 else None
        self.gpio: GpioEdge | None = None
        wired = {d.name: rig.gpio_input(d) for d in rig.rig.devices_on("gpio")}
        if wired and rig.wiring is not None:
            self.gpio = GpioEdge(FakeContacts(rig.wiring), wired)
        elif wired and rig.rig.gpio.mode == "lines":
            self.gpio = GpioEdge(RelayContacts(), wired)
        self.why_absent = {
            "sim": "the rig has no simulated devices",
            "zigbee": _absent_radio("Zigbee coordinator", rig.rig.zigbee.mode, "simulator"),
            "ble": _absent_radio("Bluetooth adapter", rig.rig.ble.mode, "mock"),
            "gpio": "the rig has no GPIO output wired to a gateway input",
            "rf433": _absent_radio("433 MHz receiver", rig.rig.rf433.mode, "simulator"),
        }

    def get(self, edge: str) -> Edge | None:
        edges: dict[str, Edge | None] = {
            "sim": self.sim,
            "zigbee": self.zigbee,
            "ble": self.ble,
            "gpio": self.gpio,
            "rf433": self.rf433,
        }
        return edges[edge]

    def absent(self, edge: str) -> str | None:
        """Why the rig cannot drive ``edge`` ("not on this rig"), or None when it can."""
        return None if self.get(edge) is not None else f"not on this rig: {self.why_absent[edge]}"

    def cannot_drive(self, device: DeviceSpec) -> str | None:
        """Why the rig cannot make ``device`` raise (its edge absent, or no stimulus for its kind there)."""
        edge = self.get(device.edge)
        return self.absent(device.edge) if edge is None else edge.stimulus_absent(device)

    def drivable(self, rig: RigRunner, edge: str) -> list[DeviceSpec]:
        """The devices on ``edge`` the rig can make raise."""
        return [d for d in rig.rig.devices_on(edge) if self.cannot_drive(d) is None]

    def call_device(
        self, rig: RigRunner, order: tuple[str, ...] = ("sim", "gpio", "ble", "zigbee", "rf433")
    ) -> DeviceSpec:
        """A call button or pull cord the rig can press (by edge preference), or skip the scenario."""
        for edge in order:
            if self.get(edge) is None:
                continue
            for device in rig.rig.devices_on(edge):
                if device.kind in CALLS:
                    return device
        pytest.skip("not on this rig: no call button or pull cord on an edge the rig can drive")

    def close(self) -> None:
        if self.gpio is not None:
            self.gpio.close()


def _absent_radio(what: str, mode: str, simulated: str) -> str:
    if mode == "absent":
        return f"the rig has no {what}"
    if mode != simulated:
        return f"the rig's {what} is real ({mode}): the suite cannot drive its devices; press them in the lab"
    return f"the {what} simulator did not start"


async def pair_zigbee(
    rig: RigRunner, platform: Platform, zigbee: ZigbeeSimEdge, devices: list[DeviceSpec], timeout: float = 60.0
) -> list[float]:
    """Open permit-join with a platform command, let each simulated device join; returns join->ready ms."""
    assert rig.gateway is not None
    deadline = time.monotonic() + timeout  # the coordinator may still be forming its network
    while "permit_open=True" not in await zigbee.send("status"):
        assert time.monotonic() < deadline, "permit_join never opened the Zigbee network"
        await platform.send(
            "cmd",
            {
                "id": f"hil-{uuid.uuid4().hex[:12]}",
                "gateway": rig.gateway_id,
                "cmd": "permit_join",
                "args": {"seconds": 120, "transport": "zigbee"},
                "expires_at": int(time.time() * 1000) + 60_000,
            },
        )
        await asyncio.sleep(1.0)
    times = []
    for device in devices:
        t0 = time.monotonic()
        family = device.zigbee_family or ZIGBEE_KINDS[device.kind]
        answer = await zigbee.send(f"join {family}")  # "ok joined smoke-1 ieee=... nwk=..."
        assert answer.startswith("ok "), f"{device.name}: {answer}"
        words = dict(w.split("=", 1) for w in answer.split() if "=" in w)
        dev_id = f"zb-{words['ieee']}"
        zigbee.sim_names[device.name] = answer.split()[2]
        rig.device_ids[device.name] = dev_id
        while not any(d["id"] == dev_id for d in await asyncio.to_thread(rig.gateway.devices)):
            assert time.monotonic() < t0 + 30, f"{device.name} ({dev_id}) never became ready"
            await asyncio.sleep(0.05)
        times.append((time.monotonic() - t0) * 1000)
    return times
