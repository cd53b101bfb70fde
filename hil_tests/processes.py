"""The child processes of a rig: the ZNP coordinator simulator, the mocked BlueZ, the gateway under test.

Each is started and stopped by the suite; each writes its log into the rig's work directory so a failed
run can be read afterwards. The gateway runs as its own ``fbgw run`` process so scenarios can SIGKILL it
and start it again, exactly as a power cut would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gateway.tools.local_broker import free_port
from gateway.tools.sim_control import ModemMockProcess, ZnpSimulatorProcess, read_banner, stop_child

REPO = Path(__file__).resolve().parents[1]


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None, banner: bool = True) -> subprocess.Popen[str]:
    """Start a child whose stderr goes to ``log``; its stdout is piped only when it prints a banner."""
    stdout = subprocess.PIPE if banner else subprocess.DEVNULL
    with open(log, "ab") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=stdout, stderr=err, text=True)


ZnpSim = ZnpSimulatorProcess
ModemMock = ModemMockProcess


class BluezMock:
    """``python -m sims.bluez``: BlueZ mocked on a private system bus, adverts sent on a control port."""

    def __init__(self, work: Path) -> None:
        self.proc = _spawn(
            [sys.executable, "-m", "sims.bluez", "--port", "0", "--no-stdin", "--workdir", str(work)],
            work / "bluez_mock.log",
        )
        info = read_banner(self.proc, "the mocked BlueZ")
        self.bus = info["DBUS_SYSTEM_BUS_ADDRESS"]
        self.control = ("127.0.0.1", int(info["CONTROL_PORT"]))

    def close(self) -> None:
        stop_child(self.proc, 10)


class Rf433Sim:
    """``python -m sims.rf433``: a 433 MHz receiver module on a pty (``port`` for ``[drivers.rf433]``)."""

    def __init__(self, work: Path) -> None:
        argv = [sys.executable, "-m", "sims.rf433", "--link", str(work / "ttyRF433"), "--control-port", "0"]
        self.proc = _spawn([*argv, "--no-stdin"], work / "rf433_sim.log")
        info = read_banner(self.proc, "the 433 MHz receiver simulator")
        self.port = info["PORT"]
        host, _, port = info["CONTROL"].rpartition(":")
        self.control = (host, int(port))

    def close(self) -> None:
        stop_child(self.proc, 5)


class GatewayUnderTest:
    """``fbgw run`` with the config generated from the rig (through the fake-GPIO launcher on the sim rig)."""

    def __init__(self, config: Path, work: Path, env: dict[str, str], fake_gpio_lines: Path | None) -> None:
        self.config = config
        self.work = work
        self.env = env
        self.fake_gpio_lines = fake_gpio_lines
        self.http_port = free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def argv(self) -> list[str]:
        launcher = ["-m", "gateway.cli"]
        if self.fake_gpio_lines is not None:
            launcher = ["-m", "hil_tests.fake_gpio", "--lines", str(self.fake_gpio_lines)]
            launcher += ["--feedback-log", str(self.work / "feedback.log")]
        return [sys.executable, *launcher, "run", "--config", str(self.config), "--http", f"127.0.0.1:{self.http_port}"]

    def start(self, timeout: float = 30.0) -> float:
        """Start it and wait for its HTTP API and every driver to have started; returns the seconds that took."""
        t0 = time.monotonic()
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.proc = _spawn(self.argv(), self.work / "gateway.log", env, banner=False)
        self.starts += 1
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}; see {self.work / 'gateway.log'}")
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=1) as resp:
                    drivers = json.load(resp)["drivers"]
                # The web server answers before the drivers have all started (a radio stack loads in the
                # background): up means every driver has started or failed.
                if not any(d["state"] == "starting" and d["detail"] == "loading" for d in drivers):
                    return time.monotonic() - t0
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gateway did not come up in {timeout} s; see {self.work / 'gateway.log'}")

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc is not None:
            stop_child(self.proc, 20)

    def get(self, path: str) -> dict[str, Any]:
        """A GET on the gateway's core API (blocking: call through ``asyncio.to_thread``)."""
        with urllib.request.urlopen(self.url + path, timeout=5) as resp:
            return dict(json.loads(resp.read()))

    def devices(self) -> list[dict[str, Any]]:
        return list(self.get("/api/devices")["devices"])
