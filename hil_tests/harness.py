"""Bringing a rig up: broker, radio simulators, fake wiring, the gateway under test with a generated config.

Everything is started in order and stopped in reverse. Stimuli go in at the rig's edges
(:mod:`hil_tests.edges`); the platform side is watched on the broker by a subscriber.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, get_args

from core.devices import Device
from drivers.ble.config import TYPE_CAPABILITIES as BLE_TYPE_CAPABILITIES
from drivers.gpio.config import InputSettings
from drivers.rf433.config import KINDS as RF433_KINDS
from gateway.registry import DeviceRegistry
from gateway.tools.local_broker import Mosquitto
from hil_tests.fake_gpio import FakeWiring
from hil_tests.processes import BluezMock, GatewayUnderTest, ModemMock, Rf433Sim, ZnpSim
from hil_tests.rig import DeviceSpec, Kind, Rig
from hil_tests.technician import installer_code
from sims.networkmanager import MockNetworkManager
from tests.support.gateway import write_toml

#: Simulated-home device type for each rig device kind (sim edge): the same names.
SIM_TYPES = {kind: kind for kind in get_args(Kind)}
#: Rule settings of the gateway under test: short, so timed rules are seen within seconds. Calls are never
#: cancelled by a second press; the vitals alarm comes after 0.5 s out of range; the whole day is "night",
#: so getting out of bed and not back within 1 s is a bed exit.
RIG_RULES: dict[str, Any] = {
    "alarms": {"cancel_window_s": 0, "escalate_after_s": 5},  # the 5-minute escalation on a fast clock
    "vitals": {"for_s": 0.5},
    "night_window": "00:00-24:00",
    "bed_exit": {"return_within_s": 1.0},
}


def device_id(device: DeviceSpec) -> str | None:
    """The gateway's id for a rig device, where it follows from the rig file (zigbee: known after joining)."""
    ids = {
        "sim": lambda d: d.name,
        "ble": lambda d: "ble-" + (d.mac or "").replace(":", "").lower(),
        "gpio": lambda d: "gpio-" + d.input_name,
        "zigbee": lambda d: f"zb-{d.ieee}" if d.ieee else None,
        "rf433": lambda d: f"rf433-{d.code}",
    }
    return ids[device.edge](device)


class RigRunner:
    """Everything a rig needs, started in order and stopped in reverse."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.work = Path(tempfile.mkdtemp(prefix=f"fbgw-hil-{rig.name}-"))
        self.broker: Mosquitto | None = None
        self.broker_url = rig.broker.url or ""
        self.znp: ZnpSim | None = None
        self.bluez: BluezMock | None = None
        self.rf433: Rf433Sim | None = None
        self.modem: ModemMock | None = None
        #: The mocked NetworkManager (``[hotspot] mode = "mock"``), on the mocked BlueZ's bus when there is one.
        self.nm: MockNetworkManager | None = None
        self.wiring: FakeWiring | None = None
        self.gateway: GatewayUnderTest | None = None
        #: The config the gateway under test was started with (see :meth:`gateway_config`).
        self.config: dict[str, Any] = {}
        #: The technician's installer code for the gateway under test (its hash goes into the config).
        self.installer_code, self._installer_hash = installer_code()
        #: rig device name -> the gateway's device id (zigbee ids are known only after joining)
        self.device_ids: dict[str, str] = {}
        for d in rig.devices:
            if (dev_id := device_id(d)) is not None:
                self.device_ids[d.name] = dev_id

    @property
    def state_dir(self) -> Path:
        return self.rig.gateway.state_dir or self.work / "state"

    @property
    def gateway_id(self) -> str:
        return self.rig.gateway.id

    def gpio_input(self, device: DeviceSpec) -> InputSettings:
        return self.rig.gpio.input(device.input_name)

    def start(self) -> None:
        if self.rig.broker.start:
            self.broker = Mosquitto()
            self.broker.start()
            self.broker_url = self.broker.url
        if self.rig.zigbee.mode == "simulator":
            self.znp = ZnpSim(self.work)
        if self.rig.ble.mode == "mock":
            self.bluez = BluezMock(self.work)
        if self.rig.rf433.mode == "simulator":
            self.rf433 = Rf433Sim(self.work)
        if self.rig.modem.mode == "mock":
            self.modem = ModemMock(self.work)
        if self.rig.hotspot.mode == "mock":  # one system bus, as on a box: BlueZ's if it is mocked
            self.nm = MockNetworkManager(self.work / "nm", bus_address=self.bluez.bus if self.bluez else None)
            self.nm.start()
        fifo_dir = None
        if self.rig.gpio.mode == "fake" and self.rig.gpio.inputs:
            fifo_dir = self.work / "gpio"
            inputs = [InputSettings.model_validate(raw) for raw in self.rig.gpio.inputs]
            self.wiring = FakeWiring(fifo_dir, inputs)
        self.config = self.gateway_config()
        if fifo_dir is not None:  # the simulated rig: feedback outputs and the loudspeaker are read back
            self._audio_sink()
        config = write_toml(self.work / "gateway.toml", self.config)
        self._seed_registry()
        bus = self.bluez.bus if self.bluez else self.nm.address if self.nm else None
        env = {"DBUS_SYSTEM_BUS_ADDRESS": bus} if bus else {}
        self.gateway = GatewayUnderTest(config, self.work, env, fifo_dir)
        self.gateway.start()

    @property
    def feedback_log(self) -> Path | None:
        """The LED/buzzer changes of the gateway under test (simulated rig), else None."""
        return self.work / "feedback.log" if self._fake_gpio else None

    @property
    def audio_dir(self) -> Path | None:
        """Where the prompts the gateway played are captured (simulated rig), else None."""
        return self.work / "audio" if self._fake_gpio else None

    @property
    def _fake_gpio(self) -> bool:
        return self.rig.gpio.mode == "fake" and bool(self.rig.gpio.inputs)

    def _audio_sink(self) -> None:
        sink = self.work / "audio-sink"
        repo = Path(__file__).resolve().parents[1]
        run = f'exec env PYTHONPATH="{repo}" "{sys.executable}" -m hil_tests.audio_sink "{self.audio_dir}" "$@"'
        sink.write_text(f"#!/bin/sh\n{run}\n")
        sink.chmod(0o755)

    def gateway_config(self) -> dict[str, Any]:
        """The gateway's TOML config, generated from the rig (``[gateway] extra`` merged over it)."""
        sim_devices = [{"id": d.name, "type": SIM_TYPES[d.kind], "room": d.room} for d in self.rig.devices_on("sim")]
        drivers: dict[str, Any] = {}
        if sim_devices:
            drivers["sim"] = {"enabled": True, "devices": sim_devices}
        if self.rig.zigbee.mode != "absent":
            port = self.znp.port if self.znp else self.rig.zigbee.port
            drivers["zigbee"] = {"enabled": True, "port": port, "offline_after_battery_s": 3600}
        if self.rig.ble.mode != "absent":
            drivers["ble"] = {"enabled": True, "adapter": self.rig.ble.adapter}
        if self.rig.rf433.mode != "absent":
            port = self.rf433.port if self.rf433 else (self.rig.rf433.port or str(self.work / "ttyRF433"))
            drivers["rf433"] = {"enabled": True, "port": port, "burst_gap_ms": 300, "retry_max_s": 2}
        if self.modem is not None:  # [modem] (whom to text) stays off: the second-path scenario pushes it
            drivers["modem"] = {"enabled": True, "bus_address": self.modem.bus, "startup_grace_s": 0, "hold_s": 2}
        if self.rig.gpio.mode != "absent" and self.rig.gpio.inputs:
            drivers["gpio"] = {"enabled": True, "retry_s": 2, "inputs": list(self.rig.gpio.inputs)}
        raw: dict[str, Any] = {
            "gateway": {"id": self.gateway_id, "state_dir": str(self.state_dir)},
            "uplink": {"broker": self.broker_url, "backoff_initial_s": 0.2, "backoff_max_s": 2.0},
            "clock": {"assume_synced": True},
            "health": {"heartbeat_interval_s": 0},
            "rules": copy.deepcopy(RIG_RULES),
            "web": {"installer_code_hash": self._installer_hash, "discovery": False},
            "drivers": drivers,
        }
        if self.rig.hotspot.mode != "absent":
            raw["hotspot"] = {"enabled": True}
        if self.audio_dir is not None:  # speak through the rig's loudspeaker stand-in
            raw["feedback"] = {"speaker": True, "player": str(self.work / "audio-sink"), "audio_device": "hil"}
        return _merge(raw, self.rig.gateway.extra)

    def _seed_registry(self) -> None:
        """The rig's BLE devices are taken as paired before the run (with their bindkeys), as a technician
        would have paired them; written through the gateway's own registry, before the gateway starts.
        The rig's 433 MHz devices likewise (their codes as learned by pressing them).
        A device already in the registry (a real rig's state directory) is left as it is; one of a kind the BLE
        driver does not know is not written (its scenarios are reported skipped with the reason)."""
        devices = [
            Device(
                id=self.device_ids[d.name],
                type=d.kind,
                transport="ble",
                name=d.name,
                room=d.room,
                capabilities=list(BLE_TYPE_CAPABILITIES[d.kind]),
                address=(d.mac or "").upper(),
                params={"kind": d.family, **({"model": d.model} if d.model else {})},
                secret=d.bindkey,
            )
            for d in self.rig.devices_on("ble")
            if d.kind in BLE_TYPE_CAPABILITIES
        ]
        devices += [  # 433 MHz codes, as a technician would have learned them by pressing each device
            Device(
                id=self.device_ids[d.name],
                type=d.kind,
                transport="rf433",
                name=d.name,
                room=d.room,
                capabilities=list(RF433_KINDS[d.kind].capabilities),
                address=d.code or "",
                params={"kind": d.kind, "match": "code", "code": d.code, "bits": 24},
            )
            for d in self.rig.devices_on("rf433")
            if d.kind in RF433_KINDS and RF433_KINDS[d.kind].match == "code"
        ]
        if devices:
            _run_in_thread(_upsert_all(self.state_dir / "devices.json", devices))

    def close(self) -> None:
        """Stop everything that was started, in reverse order; the work directory stays only on failure."""
        if self.gateway:
            self.gateway.stop()
        if self.nm:
            self.nm.close()
        if self.modem:
            self.modem.close()
        if self.rf433:
            self.rf433.close()
        if self.bluez:
            self.bluez.close()
        if self.znp:
            self.znp.close()
        if self.broker:
            self.broker.close()

    def remove_work(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


async def _upsert_all(path: Path, devices: list[Device]) -> None:
    registry = DeviceRegistry(path)
    registry.open()
    try:
        for device in devices:
            if registry.get(device.id) is None:
                await registry.upsert(device)
    finally:
        registry.close()


def _run_in_thread(coro: Any) -> None:
    """Run a coroutine to completion on a loop of its own (the caller may be inside a running loop)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # handed back to the caller below
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
