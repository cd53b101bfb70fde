"""Bringing a rig up: broker, radio simulators, the gateway under test as a real `fbgw run` process.

The gateway runs as its own process so scenarios can kill it with SIGKILL and start it again, exactly as a
power cut would. Stimuli go in at the rig's edges (:mod:`hil_tests.edges`); the platform side is watched on
the broker by a subscriber.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gateway.tools.local_broker import Mosquitto, free_port
from hil_tests.rig import DeviceSpec, Rig
from tests.support.gateway import write_toml

REPO = Path(__file__).resolve().parents[1]

#: Simulated-home device type and capabilities for each rig device kind (sim edge).
SIM_TYPES = {
    "call_button": "call_button",
    "pull_cord": "pull_cord",
    "smoke": "smoke",
    "gas": "gas",
    "leak": "leak",
    "door": "door",
    "motion": "motion",
    "mattress": "mattress",
}
#: The ZNP simulator's device kinds for each rig kind.
ZIGBEE_KINDS = {"smoke": "smoke", "gas": "gas", "leak": "leak", "door": "door", "motion": "motion",
                "call_button": "button"}
#: BLE registry entries made ahead of the run (a device paired earlier, with its bindkey).
BLE_TYPES = {"call_button": ("call_button", ["press", "battery"])}


class Line:
    """Reads ``KEY value`` lines from a child's stdout until ``READY``."""

    @staticmethod
    def read(proc: subprocess.Popen[str], until: str = "READY", timeout: float = 30.0) -> dict[str, str]:
        assert proc.stdout is not None
        found: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        for raw in proc.stdout:
            line = raw.strip()
            if line == until:
                return found
            key, sep, value = line.partition("=") if "=" in line.split(" ")[0] else line.partition(" ")
            if sep:
                found[key] = value
            if time.monotonic() > deadline:
                break
        raise RuntimeError(f"child did not say {until}: {found}")


class ZnpSim:
    def __init__(self, work: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "drivers.zigbee.znp_sim", "--link", str(work / "ttyZNP"), "--control-port", "0",
             "--no-stdin", "--log-level", "warning"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=open(work / "znp_sim.log", "ab"), text=True,
        )
        info = Line.read(self.proc)
        self.port = info["PORT"]
        host, _, port = info["CONTROL"].rpartition(":")
        self.control = (host, int(port))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class BluezMock:
    def __init__(self, work: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "drivers.ble.testing", "--port", "0", "--no-stdin", "--workdir", str(work)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=open(work / "bluez_mock.log", "ab"), text=True,
        )
        info = Line.read(self.proc)
        self.bus = info["DBUS_SYSTEM_BUS_ADDRESS"]
        self.control = ("127.0.0.1", int(info["CONTROL_PORT"]))

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class GatewayUnderTest:
    """`fbgw run` with a config generated from the rig."""

    def __init__(self, config: Path, work: Path, env: dict[str, str]) -> None:
        self.config = config
        self.work = work
        self.env = env
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config),
             "--http", f"127.0.0.1:{self.http_port}"],
            cwd=REPO, env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL, stderr=open(self.work / "gateway.log", "ab"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}; see {self.work / 'gateway.log'}")
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise RuntimeError("gateway did not come up")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def devices(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + "/api/devices", timeout=5) as resp:
            return list(json.loads(resp.read())["devices"])


class RigRunner:
    """Everything a rig needs, started in order and stopped in reverse."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.work = Path(tempfile.mkdtemp(prefix=f"fbgw-hil-{rig.name}-"))
        self.broker: Mosquitto | None = None
        self.broker_url = rig.broker.url or ""
        self.znp: ZnpSim | None = None
        self.bluez: BluezMock | None = None
        self.gateway: GatewayUnderTest | None = None
        #: rig device name -> the gateway's device id (zigbee ids are known only after pairing)
        self.device_ids: dict[str, str] = {}

    @property
    def state_dir(self) -> Path:
        return self.rig.gateway.state_dir or self.work / "state"

    @property
    def gateway_id(self) -> str:
        return self.rig.gateway.id

    def start(self) -> None:
        if self.rig.broker.start:
            self.broker = Mosquitto()
            self.broker.start()
            self.broker_url = self.broker.url
        if self.rig.zigbee.mode == "simulator":
            self.znp = ZnpSim(self.work)
        if self.rig.ble.mode == "mock":
            self.bluez = BluezMock(self.work)
        config = write_toml(self.work / "gateway.toml", self._gateway_config())
        self._seed_registry()
        env = {"DBUS_SYSTEM_BUS_ADDRESS": self.bluez.bus} if self.bluez else {}
        self.gateway = GatewayUnderTest(config, self.work, env)
        self.gateway.start()

    def _gateway_config(self) -> dict[str, Any]:
        sim_devices = [
            {"id": d.name, "type": SIM_TYPES[d.kind], "room": d.room} for d in self.rig.devices_on("sim")
        ]
        drivers: dict[str, Any] = {}
        if sim_devices:
            drivers["sim"] = {"enabled": True, "devices": sim_devices}
        if self.rig.zigbee.mode != "absent":
            port = self.znp.port if self.znp else self.rig.zigbee.port
            drivers["zigbee"] = {"enabled": True, "port": port, "offline_after_battery_s": 3600}
        if self.rig.ble.mode != "absent":
            drivers["ble"] = {"enabled": True, "adapter": self.rig.ble.adapter}
        raw: dict[str, Any] = {
            "gateway": {"id": self.gateway_id, "state_dir": str(self.state_dir)},
            "uplink": {"broker": self.broker_url, "backoff_initial_s": 0.2, "backoff_max_s": 2.0},
            "clock": {"assume_synced": True},
            "health": {"heartbeat_interval_s": 0},
            "rules": {"alarms": {"cancel_window_s": 0}},
            "drivers": drivers,
        }
        for key, value in self.rig.gateway.extra.items():
            if isinstance(value, dict) and isinstance(raw.get(key), dict):
                raw[key] = _merge(raw[key], value)
            else:
                raw[key] = value
        return raw

    def _seed_registry(self) -> None:
        """BLE devices of the rig are taken as paired before the run (with their bindkeys)."""
        rows: dict[str, Any] = {}
        for i, d in enumerate(self.rig.devices_on("ble"), start=1):
            assert d.mac
            dev_id = "ble-" + d.mac.replace(":", "").lower()
            dev_type, caps = BLE_TYPES[d.kind]
            rows[str(i)] = {"id": dev_id, "type": dev_type, "transport": "ble", "name": d.name, "room": d.room,
                            "capabilities": caps, "address": d.mac.upper(), "params": {"kind": "bthome"},
                            "secret": d.bindkey, "added_at": time.time()}
            self.device_ids[d.name] = dev_id
        for d in self.rig.devices_on("sim"):
            self.device_ids[d.name] = d.name
        if rows:
            state = self.state_dir
            state.mkdir(parents=True, exist_ok=True)
            path = state / "devices.json"
            path.write_text(json.dumps({"devices": rows}))
            path.chmod(0o600)

    def close(self) -> None:
        if self.gateway:
            self.gateway.stop()
        if self.bluez:
            self.bluez.close()
        if self.znp:
            self.znp.close()
        if self.broker:
            self.broker.close()


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def device_spec(rig: Rig, name: str) -> DeviceSpec:
    return next(d for d in rig.devices if d.name == name)
