"""The rig description: where each radio is, how each device is stimulated, which broker to watch.

A real rig and the simulated rig differ only in this file. See hil_tests/README.md.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RIGS = Path(__file__).resolve().parent / "rigs"
SIMULATED = RIGS / "simulated.toml"

Edge = Literal["sim", "zigbee", "ble", "gpio"]
Kind = Literal["call_button", "pull_cord", "smoke", "gas", "leak", "door", "motion", "mattress"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerSpec(_Model):
    #: true: start a local Mosquitto on a free loopback port; false: observe ``url``.
    start: bool = True
    url: str | None = None


class GatewaySpec(_Model):
    id: str = "hil-rig"
    #: State directory of the gateway under test. Unset: a fresh temporary one. A real rig whose devices
    #: were paired beforehand points this at the state directory they were paired into.
    state_dir: Path | None = None
    #: Extra gateway config (TOML tables merged over the generated one), e.g. real driver sections.
    extra: dict[str, Any] = Field(default_factory=dict)


class ZigbeeSpec(_Model):
    #: "simulator": the ZNP coordinator simulator on a pty; "serial": a real stick; "absent": none.
    mode: Literal["simulator", "serial", "absent"] = "absent"
    port: str | None = None


class BleSpec(_Model):
    #: "mock": bleak on a mocked BlueZ on a private bus; "adapter": the real adapter; "absent": none.
    mode: Literal["mock", "adapter", "absent"] = "absent"
    adapter: str = "hci0"


class DeviceSpec(_Model):
    """One device on the rig and how the rig makes it speak."""

    name: str
    kind: Kind
    edge: Edge
    room: str = "rig"
    #: sim: the simulated device id (defaults to ``name``).
    #: zigbee (simulator): the simulator's device kind is derived from ``kind``.
    #: ble: the device's MAC and bindkey (hex) for encrypted BTHome.
    mac: str | None = None
    bindkey: str | None = None
    #: gpio (real rigs): the output line wired to the device's input (a relay across a pull cord or a
    #: detector's test button), pulsed for ``pulse_ms``.
    chip: str | None = None
    line: int | None = None
    pulse_ms: int = 300

    @model_validator(mode="after")
    def _edge_needs(self) -> DeviceSpec:
        if self.edge == "ble" and not self.mac:
            raise ValueError(f"device {self.name}: a ble device needs mac")
        if self.edge == "gpio" and (self.chip is None or self.line is None):
            raise ValueError(f"device {self.name}: a gpio device needs chip and line (the wired output)")
        return self


class Rig(_Model):
    name: str
    broker: BrokerSpec = BrokerSpec()
    gateway: GatewaySpec = GatewaySpec()
    zigbee: ZigbeeSpec = ZigbeeSpec()
    ble: BleSpec = BleSpec()
    devices: list[DeviceSpec] = Field(default_factory=list)
    #: Samples per latency scenario.
    samples: int = Field(default=5, ge=1, le=1000)

    def edges(self) -> set[str]:
        return {d.edge for d in self.devices}

    def devices_on(self, edge: str) -> list[DeviceSpec]:
        return [d for d in self.devices if d.edge == edge]


def load_rig(path: Path) -> Rig:
    return Rig.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
