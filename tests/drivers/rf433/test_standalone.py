"""``python -m sims.rf433`` as the demo and the rig run it: port printed, presses over the control port reach the
driver."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.base import DriverContext
from drivers.rf433 import create_driver
from gateway.registry import DeviceRegistry
from tests.drivers.ble.fakes import FakeSink
from tests.drivers.rf433.conftest import FAST, receiving

pytestmark = pytest.mark.timeout(60)


async def test_standalone_simulator_with_control_port(tmp_path: Path) -> None:
    link = tmp_path / "ttyRF"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sims.rf433", "--link", str(link), "--control-port", "0", "--no-stdin"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info: dict[str, str] = {}
        while "READY" not in info:
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line, "sims.rf433 exited early"
            key, _, value = line.strip().partition(" ")
            info[key] = value
        assert info["PORT"] == str(link)
        host, port = info["CONTROL"].rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))

        async def cmd(line: str) -> str:
            writer.write((line + "\n").encode())
            return (await reader.readline()).decode().strip()

        registry = DeviceRegistry(tmp_path / "registry.json")
        registry.open()
        sink = FakeSink()
        driver = create_driver({"port": str(link), **FAST}, DriverContext("gw", tmp_path, sink, registry))
        await driver.start()
        try:
            await receiving(sink)
            await driver.start_pairing(30)
            assert await cmd("press abcdef 3 50") == "ok 3 frames"
            await sink.wait_for(lambda s: any(u.info.get("code") == "abcdef" for u in s.pairing_updates))
            device = await driver.adopt("abcdef", {"type": "call_button"})
            await asyncio.sleep(0.4)
            assert await cmd("format text") == "ok"
            assert await cmd("press abcdef 5 50") == "ok 5 frames"
            await sink.wait_for(lambda s: s.values(device.id, "press") == [True])
            assert await cmd("unplug") == "ok"
            await sink.wait_for(lambda s: s.radio_calls[-1][:2] == ("rf433", False))
            assert (await cmd("plug")).startswith("ok ")
            await receiving(sink)
            assert (await cmd("status")).startswith("ok plugged format=text")
        finally:
            await driver.stop()
            registry.close()
        writer.write(b"quit\n")
        await writer.drain()
        writer.close()
        assert await asyncio.to_thread(proc.wait, 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
