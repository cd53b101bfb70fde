"""The rig description: where each radio is, how each device is stimulated, which broker to watch.

A real rig and the simulated rig differ only in this file. See hil_tests/README.md.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.gpio.config import GpioSection, InputSettings

RIGS = Path(__file__).resolve().parent / "rigs"
SIMULATED = RIGS / "simulated.toml"

Edge = Literal["sim", "zigbee", "ble", "gpio", "rf433"]
#: The device types of drivers.base.DEVICE_TYPES.
Kind = Literal[
    "call_button", "pull_cord", "door", "motion", "smoke", "gas", "leak", "wet_pad", "mattress", "heart_rate"
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerSpec(_Model):
    #: true: start a local Mosquitto on a free loopback port; false: observe ``url``.
    start: bool = True
    url: str | None = None

    @model_validator(mode="after")
    def _url_when_not_started(self) -> BrokerSpec:
        if not self.start and not self.url:
            raise ValueError("broker: give url (mqtt://host:port) when start = false")
        return self


class GatewaySpec(_Model):
    id: str = Field(default="hil-rig", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    #: State directory of the gateway under test. Unset: a fresh temporary one. A real rig whose devices
    #: were paired beforehand points this at the state directory they were paired into.
    state_dir: Path | None = None
    #: Extra gateway config (TOML tables merged over the generated one), e.g. real driver options.
    extra: dict[str, Any] = Field(default_factory=dict)


class ZigbeeSpec(_Model):
    #: "simulator": the ZNP coordinator simulator on a pty; "serial": a real stick; "absent": none.
    mode: Literal["simulator", "serial", "absent"] = "absent"
    port: str | None = None

    @model_validator(mode="after")
    def _port_for_serial(self) -> ZigbeeSpec:
        if self.mode == "serial" and not self.port:
            raise ValueError("zigbee: mode 'serial' needs port (e.g. /dev/serial/by-id/...)")
        return self


class BleSpec(_Model):
    #: "mock": bleak on a mocked BlueZ on a private bus; "adapter": the real adapter; "absent": none.
    mode: Literal["mock", "adapter", "absent"] = "absent"
    adapter: str = "hci0"


class Rf433Spec(_Model):
    #: "simulator": the 433 MHz receiver simulator on a pty; "serial": a real receiver module; "absent": none.
    mode: Literal["simulator", "serial", "absent"] = "absent"
    port: str | None = None

    @model_validator(mode="after")
    def _port_for_serial(self) -> Rf433Spec:
        if self.mode == "serial" and not self.port:
            raise ValueError("rf433: mode 'serial' needs port (e.g. /dev/serial/by-id/...)")
        return self


class ModemSpec(_Model):
    #: "mock": a mocked ModemManager with a 4G modem (``python -m sims.modem``) on a private bus; "absent": none.
    mode: Literal["mock", "absent"] = "absent"


class HotspotSpec(_Model):
    #: The install access point: "mock": python-dbusmock's NetworkManager (with a Wi-Fi device) on the rig's
    #: system bus; "networkmanager": the rig's own NetworkManager (its Wi-Fi really starts an access point);
    #: "absent": not configured.
    mode: Literal["mock", "networkmanager", "absent"] = "absent"


class GpioSpec(_Model):
    """The gateway's wired inputs and how the rig drives them.

    ``mode = "lines"`` (a real rig): each gpio device names a real output line wired (through a relay) to
    its input. ``mode = "fake"`` (the simulated rig): the gateway under test reads its inputs from the gpio
    driver's pipe-backed fake line source, and the suite writes the edges into those pipes.
    ``inputs`` are the gateway's ``[[drivers.gpio.inputs]]``, exactly as on an installed gateway.
    """

    mode: Literal["lines", "fake", "absent"] = "lines"
    inputs: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _inputs_valid(self) -> GpioSpec:
        try:  # the gpio driver's own model: a rig cannot describe an input the gateway would refuse
            GpioSection.model_validate({"inputs": self.inputs})
        except ValidationError as exc:
            raise ValueError(f"gpio.inputs: {exc}") from exc
        return self

    def input(self, name: str) -> InputSettings:
        for raw in self.inputs:
            if raw.get("name") == name:
                return InputSettings.model_validate(raw)
        raise KeyError(name)


class DeviceSpec(_Model):
    """One device on the rig and how the rig makes it speak."""

    name: str
    kind: Kind
    edge: Edge
    room: str = "rig"
    #: zigbee on a real rig: the device's IEEE address (16 hex digits), as paired. The simulated rig's
    #: Zigbee devices join during the run and get theirs then.
    ieee: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    #: zigbee on the simulated rig: the simulator's device family (``sims/znp/devices/*.json``, e.g. "tuya-smoke"),
    #: joined with its real signature; default: the built-in device of the kind.
    zigbee_family: str | None = None
    #: ble: the device's MAC and bindkey (hex) for encrypted BTHome or MiBeacon adverts.
    mac: str | None = None
    bindkey: str | None = None
    #: ble: what the device advertises: BTHome v2, or Xiaomi MiBeacon (``model`` as xiaomi-ble names it).
    family: Literal["bthome", "mibeacon"] = "bthome"
    model: str | None = None
    #: gpio: the gateway input it is wired to (``[[gpio.inputs]]`` name; default: ``name`` without "gpio-").
    input: str | None = None
    #: gpio on a real rig: the output line wired to the device's input (a relay across a pull cord or a
    #: detector's test button), pulsed for ``pulse_ms``.
    chip: str | None = None
    line: int | None = None
    pulse_ms: int = Field(default=300, ge=10, le=60_000)
    #: rf433: the 24-bit code the device sends (6 hex digits), as paired.
    code: str | None = Field(default=None, pattern=r"^[0-9a-f]{6}$")

    @model_validator(mode="after")
    def _edge_needs(self) -> DeviceSpec:
        if self.edge == "ble" and not self.mac:
            raise ValueError(f"device {self.name}: a ble device needs mac")
        if self.edge == "rf433" and not self.code:
            raise ValueError(f"device {self.name}: an rf433 device needs code (6 hex digits)")
        return self

    @property
    def input_name(self) -> str:
        return self.input or self.name.removeprefix("gpio-")


class Rig(_Model):
    name: str
    broker: BrokerSpec = BrokerSpec()
    gateway: GatewaySpec = GatewaySpec()
    zigbee: ZigbeeSpec = ZigbeeSpec()
    ble: BleSpec = BleSpec()
    gpio: GpioSpec = GpioSpec()
    rf433: Rf433Spec = Rf433Spec()
    modem: ModemSpec = ModemSpec()
    hotspot: HotspotSpec = HotspotSpec()
    devices: list[DeviceSpec] = Field(default_factory=list)
    #: Samples per latency scenario.
    samples: int = Field(default=5, ge=1, le=1000)
    #: Latency budget per scenario (p99, ms), by name or by the name before "[": a row over it fails.
    budgets: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _devices_fit_the_rig(self) -> Rig:
        names = [d.name for d in self.devices]
        if len(names) != len(set(names)):
            raise ValueError("two devices share a name")
        radio = {
            "zigbee": self.zigbee.mode != "absent",
            "ble": self.ble.mode != "absent",
            "rf433": self.rf433.mode != "absent",
        }
        for d in self.devices:
            if d.edge in radio and not radio[d.edge]:
                raise ValueError(f"device {d.name}: edge {d.edge} but the rig's [{d.edge}] mode is 'absent'")
            if d.edge != "gpio":
                continue
            if self.gpio.mode == "absent":
                raise ValueError(f"device {d.name}: edge gpio but the rig's [gpio] mode is 'absent'")
            if self.gpio.mode == "lines" and (d.chip is None or d.line is None):
                raise ValueError(f"device {d.name}: a gpio device needs chip and line (the output wired to its input)")
            if not any(i.get("name") == d.input_name for i in self.gpio.inputs):
                raise ValueError(f"device {d.name}: no [[gpio.inputs]] named {d.input_name!r} to wire it to")
        return self

    def edges(self) -> set[str]:
        return {d.edge for d in self.devices}

    def devices_on(self, edge: str) -> list[DeviceSpec]:
        return [d for d in self.devices if d.edge == edge]

    def device(self, name: str) -> DeviceSpec:
        return next(d for d in self.devices if d.name == name)


def load_rig(path: Path) -> Rig:
    """Read and validate a rig file; a mistake raises pydantic's ValidationError naming the key."""
    return Rig.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
