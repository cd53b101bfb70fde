"""``python -m sims.modem`` as the demo and the rig run it: addresses printed, commands over the control port."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.base import DriverContext
from drivers.modem import create_driver
from gateway.registry import DeviceRegistry
from tests.drivers.ble.fakes import FakeSink
from tests.drivers.modem.conftest import FAST

pytestmark = pytest.mark.timeout(60)


async def test_standalone_mock_with_control_port(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sims.modem", "--port", "0", "--no-stdin", "--workdir", str(tmp_path / "mm")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info: dict[str, str] = {}
        while "READY" not in info:
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line, "sims.modem exited early"
            key, _, value = line.strip().partition("=")
            info[key] = value
        reader, writer = await asyncio.open_connection("127.0.0.1", int(info["CONTROL_PORT"]))

        async def cmd(line: str) -> list[str]:
            writer.write((line + "\n").encode())
            first = (await reader.readline()).decode().strip()
            out = [first]
            if first.startswith("ok ") and first[3:].isdigit() and line.split()[0] in ("sms", "calls", "records"):
                out += [(await reader.readline()).decode().strip() for _ in range(int(first[3:]))]
            return out

        registry = DeviceRegistry(tmp_path / "registry.json")
        registry.open()
        sink = FakeSink()
        driver = create_driver(
            {"bus_address": info["DBUS_SYSTEM_BUS_ADDRESS"], **FAST}, DriverContext("gw", tmp_path, sink, registry)
        )
        await driver.start()
        try:
            await sink.wait_for(lambda s: ("modem", True, "ready") in s.radio_calls)
            assert (await driver.modem.send_sms("+8613900000001", "测试短信")).ok
            sms = await cmd("sms")
            assert sms[0] == "ok 1" and json.loads(sms[1])["text"] == "测试短信"
            assert await cmd("sim missing") == ["ok"]
            await sink.wait_for(lambda s: ("modem", False, "SIM card missing") in s.radio_calls)
            assert (await cmd("send bogus"))[0].startswith("error")
            assert (await cmd("frobnicate"))[0].startswith("error unknown command")
        finally:
            await driver.stop()
            registry.close()
        writer.write(b"quit\n")
        await writer.drain()
        writer.close()
        assert await asyncio.to_thread(proc.wait, 10) == 0
        assert Path(info["RECORD"]).read_text(encoding="utf-8").count("\n") == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
