"""``python -m sims.bluez`` as the demo and the rig use it: a child process, a control port."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from drivers.base import DriverContext
from drivers.ble import create_driver
from gateway.registry import DeviceRegistry
from tests.drivers.ble.conftest import FAST, add_device, scanning
from tests.drivers.ble.fakes import FakeSink

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(60)
async def test_console_over_control_port_drives_a_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sims.bluez",
        "--port",
        "0",
        "--no-stdin",
        "--workdir",
        str(tmp_path / "bz"),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        header: dict[str, str] = {}
        while "READY" not in header:
            line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode().strip()
            assert line, "console exited early"
            key, _, value = line.partition("=")
            header[key] = value
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", header["DBUS_SYSTEM_BUS_ADDRESS"])

        sink = FakeSink()
        registry = DeviceRegistry(tmp_path / "registry.json")
        registry.open()
        dev = await add_device(registry, "3C:2E:F5:00:00:51", "call_button", secret="ab" * 16)
        door = await add_device(registry, "E4:AA:EC:00:00:52", "door", secret="cd" * 16, kind="mibeacon")
        driver = create_driver(FAST, DriverContext("gw", tmp_path, sink, registry))
        await driver.start()
        writer: asyncio.StreamWriter | None = None
        try:
            await scanning(driver)
            reader, writer = await asyncio.open_connection("127.0.0.1", int(header["CONTROL_PORT"]))

            async def say(cmd: str) -> str:
                assert writer is not None
                writer.write(cmd.encode() + b"\n")
                await writer.drain()
                return (await asyncio.wait_for(reader.readline(), 10)).decode().strip()

            assert (await say("press 3c:2e:f5:00:00:51 double key=" + "ab" * 16)).startswith("ok 3C:2E:F5:00:00:51 45")
            await sink.wait_for(lambda s: [r.meta["event"] for r in s.readings] == ["double_press"])
            # Xiaomi MiBeacon: from a random address, the MAC in the frame; a battery change restarts its counter
            key = "key=" + "cd" * 16
            assert (await say(f"xdoor e4:aa:ec:00:00:52 open {key} via=5D:00:00:00:00:52")).startswith("ok E4:AA")
            for _ in range(3):  # frames 2..4: the counter the gateway keeps is now 4
                assert (await say("xbattery E4:AA:EC:00:00:52 77")).startswith("ok")
            await sink.wait_for(
                lambda s: s.values(door.id, "contact") == ["open"] and s.values(door.id, "battery") == [77]
            )
            assert await say("xrestart E4:AA:EC:00:00:52") == "ok E4:AA:EC:00:00:52"
            for state in ("closed", "open"):  # frames 1, 2 again: below 4, rising
                assert (await say(f"xdoor E4:AA:EC:00:00:52 {state}")).startswith("ok")
            await sink.wait_for(lambda s: s.values(door.id, "needs_readoption") == [True])
            assert await say("xbattery 11:22:33:44:55:66 50") == "error no Xiaomi device 11:22:33:44:55:66 yet"
            assert await say("frobnicate") == "error unknown command 'frobnicate'; try 'help'"
            assert await say("adapter remove") == "ok"
            await sink.wait_for(lambda s: [u for _t, u, _r in s.radio_calls] == [False])
            assert await say("adapter add") == "ok"
            await sink.wait_for(lambda s: [u for _t, u, _r in s.radio_calls] == [False, True])
        finally:
            if writer is not None:  # also on failure: the console waits for its clients before it exits
                writer.close()
            await driver.stop()
            registry.close()
        assert sink.values(dev.id, "press") == [True]
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    leftovers = await asyncio.create_subprocess_exec(
        "pgrep", "-f", str(tmp_path / "bz"), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await leftovers.communicate()
    assert out.strip() == b"", "bus or mock process left running"
