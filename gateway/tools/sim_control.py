"""The radio simulators as child processes, shared by the demo and the hardware-in-the-loop rig.

The standalone simulators (``python -m sims.znp``, ``python -m sims.bluez``, ``python -m sims.modem``) print
``KEY value`` / ``KEY=value`` lines, then ``READY``, and take one command per line on a loopback control port,
answering ``ok ...`` or ``error ...``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def read_banner(proc: subprocess.Popen[str], name: str, until: str = "READY", timeout: float = 30.0) -> dict[str, str]:
    """``KEY=value`` / ``KEY value`` lines from a child's stdout until its ``READY`` line."""
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
    raise RuntimeError(f"{name} did not say {until} (exit {proc.poll()}); said {found}")


async def send_line(address: tuple[str, int], command: str, timeout: float = 10.0) -> str:
    """One command to a simulator's control port; its ``ok ...`` answer, else RuntimeError with the answer."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
    try:
        writer.write(command.encode() + b"\n")
        await writer.drain()
        answer = (await asyncio.wait_for(reader.readline(), timeout)).decode().strip()
    finally:
        writer.close()
        await writer.wait_closed()
    if not answer.startswith("ok"):
        raise RuntimeError(f"{command!r}: {answer}")
    return answer


def stop_child(proc: subprocess.Popen[str], timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; close its pipe."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


class ZnpSimulatorProcess:
    """The ZNP coordinator simulator on a pty (``port`` for ``[drivers.zigbee]``), driven on ``control``."""

    def __init__(self, work: Path) -> None:
        argv = [
            sys.executable,
            "-m",
            "sims.znp",
            "--link",
            str(work / "ttyZNP"),
            "--control-port",
            "0",
            "--no-stdin",
            "--log-level",
            "warning",
        ]
        with open(work / "znp_sim.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True)
        info = read_banner(self.proc, "the ZNP simulator")
        self.port = info["PORT"]
        host, _, port = info["CONTROL"].rpartition(":")
        self.control = (host, int(port))

    async def send(self, command: str) -> str:
        return await send_line(self.control, command)

    def close(self) -> None:
        stop_child(self.proc, 5)


class ModemMockProcess:
    """``python -m sims.modem``: ModemManager with one 4G modem, mocked on a private D-Bus (``bus`` for
    ``[drivers.modem] bus_address``), driven on ``control``; every SMS sent, call placed and SMS injected is a JSON
    line in ``record``."""

    def __init__(self, work: Path) -> None:
        argv = [sys.executable, "-m", "sims.modem", "--port", "0", "--no-stdin", "--workdir", str(work / "modem")]
        with open(work / "modem_mock.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True)
        info = read_banner(self.proc, "the mocked ModemManager")
        self.bus = info["DBUS_SYSTEM_BUS_ADDRESS"]
        self.record = Path(info["RECORD"])
        self.control = ("127.0.0.1", int(info["CONTROL_PORT"]))

    def records(self, kind: str) -> list[dict[str, Any]]:
        """What the mock recorded (``sms``, ``call``, ``incoming``), oldest first."""
        if not self.record.exists():
            return []
        rows = [json.loads(line) for line in self.record.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [r for r in rows if r.get("kind") == kind]

    async def send(self, command: str) -> str:
        return await send_line(self.control, command)

    def close(self) -> None:
        stop_child(self.proc, 10)
