"""Every shipped rig file yields a gateway config the gateway accepts, without bringing the rig up.

A lab that copies ``example-pi.toml`` must not find out on the rig that the generated config is refused.
(These are checks of the suite itself, not scenarios: they are not rows of the report.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from drivers.ble.config import BleSettings
from drivers.gpio.config import GpioSection, InputSettings
from drivers.modem.config import ModemSection
from drivers.rf433.config import Rf433Section
from drivers.sim.config import SimSection
from drivers.zigbee.config import ZigbeeSection
from gateway.config import load_config
from hil_tests.edges import BleSimEdge, Edge, GpioEdge, Rf433SimEdge, SimEdge, ZigbeeSimEdge
from hil_tests.harness import RigRunner
from hil_tests.rig import RIGS, SIMULATED, DeviceSpec, Kind, load_rig
from tests.support.gateway import write_toml

#: Each driver section of the generated config, validated by the driver's own model.
DRIVER_MODELS: dict[str, type[BaseModel]] = {
    "sim": SimSection,
    "zigbee": ZigbeeSection,
    "ble": BleSettings,
    "gpio": GpioSection,
    "rf433": Rf433Section,
    "modem": ModemSection,
}

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("path", sorted(RIGS.glob("*.toml")), ids=lambda p: p.name)
def test_generated_gateway_config_is_accepted(path: Path, tmp_path: Path) -> None:
    rig = load_rig(path)
    runner = RigRunner(rig)
    try:
        runner.broker_url = rig.broker.url or "mqtt://127.0.0.1:1883"
        raw = runner.gateway_config()
        config = load_config(write_toml(tmp_path / "gateway.toml", raw))
        assert config.gateway.id == rig.gateway.id
        drivers: dict[str, Any] = raw["drivers"]
        for name, section in drivers.items():
            DRIVER_MODELS[name].model_validate(section)
        expected = {"sim"} & rig.edges() | {r for r in ("zigbee", "ble", "rf433") if getattr(rig, r).mode != "absent"}
        assert expected <= set(drivers), (expected, set(drivers))
        if rig.gpio.inputs:
            assert [i["name"] for i in drivers["gpio"]["inputs"]] == [i["name"] for i in rig.gpio.inputs]
    finally:
        runner.remove_work()


def test_every_gpio_device_maps_to_its_input_device_id() -> None:
    rig = load_rig(RIGS / "simulated.toml")
    runner = RigRunner(rig)
    try:
        for device in rig.devices_on("gpio"):
            assert runner.device_ids[device.name] == f"gpio-{device.input_name}"
            assert runner.gpio_input(device).name == device.input_name
    finally:
        runner.remove_work()


class _NoContacts:
    """Wiring for edges that are only asked what they can drive."""

    async def set(self, device: DeviceSpec, spec: InputSettings, asserted: bool) -> None:
        raise AssertionError("not driven here")

    def close(self) -> None:
        return None


def _edges(runner: RigRunner) -> dict[str, Edge]:
    """The simulated rig's edges, built without starting anything (addresses unused)."""
    nowhere = ("127.0.0.1", 9)
    wired = {d.name: runner.gpio_input(d) for d in runner.rig.devices_on("gpio")}
    return {
        "sim": SimEdge("http://127.0.0.1:9", runner.device_ids),
        "zigbee": ZigbeeSimEdge(nowhere),
        "ble": BleSimEdge(nowhere),
        "gpio": GpioEdge(_NoContacts(), wired),
        "rf433": Rf433SimEdge(nowhere),
    }


def test_the_simulated_rig_has_every_device_kind_and_can_drive_each_device() -> None:
    rig = load_rig(SIMULATED)
    runner = RigRunner(rig)
    try:
        edges = _edges(runner)
        assert set(get_args(Kind)) == {d.kind for d in rig.devices}
        assert {d.name: edges[d.edge].stimulus_absent(d) for d in rig.devices} == {d.name: None for d in rig.devices}
    finally:
        runner.remove_work()


@pytest.mark.parametrize(
    ("edge", "kind"), [("zigbee", "wet_pad"), ("zigbee", "mattress"), ("ble", "smoke"), ("ble", "heart_rate")]
)
def test_a_kind_an_edge_cannot_drive_is_named(edge: str, kind: str) -> None:
    runner = RigRunner(load_rig(SIMULATED))
    try:
        device = DeviceSpec.model_validate({"name": "x", "kind": kind, "edge": edge, "mac": "3C:2E:F5:00:00:99"})
        why = _edges(runner)[edge].stimulus_absent(device)
        assert why is not None and f"no stimulus for a {kind} on the {edge} edge" in why
    finally:
        runner.remove_work()
