"""The simulator's standalone entry point, as the demo and the HIL rig use it: a child process with a
loopback control port, and the real driver on the port it prints."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.drivers.zigbee.conftest import Sink, running, wait_for

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[3]


@contextlib.asynccontextmanager
async def standalone(tmp_path: Path) -> AsyncIterator[tuple[dict[str, str], asyncio.subprocess.Process]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sims.znp",
        "--link",
        str(tmp_path / "tty"),
        "--control-port",
        "0",
        "--state",
        str(tmp_path / "sim.json"),
        "--no-stdin",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    info: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(15):
            while "READY" not in info:
                key, _, value = (await proc.stdout.readline()).decode().strip().partition(" ")
                info[key] = value
        yield info, proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def command(control: str, *lines: str) -> list[str]:
    host, port = control.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answers = []
    for line in lines:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        answers.append((await reader.readline()).decode().strip())
    writer.close()
    await writer.wait_closed()
    return answers


async def test_driver_against_standalone_simulator(tmp_path: Path, make_driver, sink: Sink) -> None:
    async with standalone(tmp_path) as (info, proc):
        assert info["PORT"] == str(tmp_path / "tty") and info["PTY"].startswith("/dev/pts/")
        driver = await running(make_driver(info["PORT"]))
        await driver.start_pairing(60)
        joined, bogus = await command(info["CONTROL"], "join smoke kitchen-smoke", "fly away")
        assert joined.startswith("ok joined kitchen-smoke ieee=")
        assert bogus.startswith("error unknown command")
        ieee = joined.split("ieee=")[1].split()[0]
        device_id = f"zb-{ieee}"
        await wait_for(lambda: "ready" in sink.stages(device_id), 20, "paired through the control port")
        assert (await command(info["CONTROL"], "alarm kitchen-smoke")) == ["ok alarm kitchen-smoke"]
        await wait_for(lambda: True in sink.values(device_id, "smoke"), 10, "smoke alarm")
        await driver.stop()
    assert proc.returncode is not None
    saved = await asyncio.to_thread((tmp_path / "sim.json").read_text)
    assert "kitchen-smoke" in saved  # the stick's state survives the process
