"""The systemd watchdog pings only while the loop and the core tasks live (real gateway, real socket)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.health.watchdog import SdNotifier, WatchdogService, watchdog_interval
from tests.ops.notify_socket import FakeNotifySocket
from tests.support.broker import free_port
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)

WATCHDOG_USEC = 400_000  # systemd would say WatchdogSec=0.4: the gateway pings every 0.2 s
PING_S = WATCHDOG_USEC / 2 / 1e6


@contextlib.asynccontextmanager
async def running_gateway(state: Path) -> AsyncIterator[Gateway]:
    # No broker on purpose: the uplink task keeps retrying, which is "alive" for the watchdog.
    cfg = make_config(state, f"mqtt://127.0.0.1:{free_port()}", health={"heartbeat_interval_s": 0})
    async with Gateway(cfg) as gw:
        yield gw


@pytest.fixture
def watchdog_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))


def pings_between(sock: FakeNotifySocket, start: float, end: float) -> int:
    return sum(1 for t in sock.times("WATCHDOG=1") if start <= t <= end)


async def test_ready_pings_status_and_stopping(
    tmp_path: Path, notify_socket: FakeNotifySocket, watchdog_env: None
) -> None:
    async with running_gateway(tmp_path / "state") as gw:
        await notify_socket.wait_for("READY=1", timeout=5)
        assert gw.web is not None and gw.web.port  # READY only once the web server listens
        await notify_socket.wait_for("WATCHDOG=1", count=6, timeout=5)
        times = notify_socket.times("WATCHDOG=1")
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(PING_S * 0.5 < g < PING_S * 2.5 for g in gaps), gaps
        assert any(line.startswith("STATUS=uplink ") for line in notify_socket.lines())
        assert "STOPPING=1" not in notify_socket.lines()
    assert notify_socket.count("STOPPING=1") == 1
    ready_at = notify_socket.times("READY=1")[0]
    assert all(t >= ready_at for t in notify_socket.times("WATCHDOG=1")), "pinged before READY"


@pytest.mark.parametrize("victim", ["rules-tick", "uplink", "outbox-writer"])
async def test_pings_stop_when_a_core_task_dies(
    tmp_path: Path, notify_socket: FakeNotifySocket, watchdog_env: None, victim: str
) -> None:
    observed: dict[str, object] = {}
    with contextlib.suppress(asyncio.CancelledError):  # the outbox re-raises its dead writer on close
        async with running_gateway(tmp_path / "state") as gw:
            await notify_socket.wait_for("WATCHDOG=1", count=3, timeout=5)
            if victim == "outbox-writer":
                task = gw.outbox._task
            else:
                task = next(t for t in gw._tasks if t.get_name() == victim)
            assert task is not None
            task.cancel()
            died = time.monotonic()
            await asyncio.sleep(PING_S * 6)
            observed["late_pings"] = pings_between(notify_socket, died + PING_S * 1.5, time.monotonic())
    assert observed == {"late_pings": 0}  # also proves the body ran to its end
    assert notify_socket.count("WATCHDOG=trigger") == 1
    assert any(line.startswith("STATUS=unhealthy: ") and victim in line for line in notify_socket.lines())


async def test_no_pings_while_the_event_loop_is_blocked(
    tmp_path: Path, notify_socket: FakeNotifySocket, watchdog_env: None
) -> None:
    async with running_gateway(tmp_path / "state"):
        await notify_socket.wait_for("WATCHDOG=1", count=3, timeout=5)
        blocked = time.monotonic()
        time.sleep(PING_S * 5)
        unblocked = time.monotonic()
        assert pings_between(notify_socket, blocked + 0.05, unblocked) == 0
        await notify_socket.wait_for("WATCHDOG=1", count=len(notify_socket.times("WATCHDOG=1")) + 2, timeout=3)
        assert notify_socket.count("WATCHDOG=trigger") == 0  # a slow loop is not a dead task


async def test_stalled_outbox_writer_thread_stops_pings(
    tmp_path: Path, notify_socket: FakeNotifySocket, watchdog_env: None
) -> None:
    async with running_gateway(tmp_path / "state") as gw:
        service = gw.services.watchdog
        assert isinstance(service, WatchdogService)
        service.probe.timeout_s = PING_S * 2
        await notify_socket.wait_for("WATCHDOG=1", count=3, timeout=5)
        loop = asyncio.get_running_loop()
        # Wedge the writer thread the way a dying SD card does: a write that does not return.
        wedge = loop.run_in_executor(gw.outbox._writer, time.sleep, PING_S * 10)
        stalled = time.monotonic()
        await asyncio.sleep(PING_S * 8)
        assert pings_between(notify_socket, stalled + PING_S * 4, time.monotonic()) == 0
        assert "outbox-writer-stalled" in service.problems
        await wedge
        before = notify_socket.count("WATCHDOG=1")
        await notify_socket.wait_for("WATCHDOG=1", count=before + 2, timeout=3)  # recovers by itself
        assert notify_socket.count("WATCHDOG=trigger") == 0


async def test_without_watchdog_usec_only_ready_and_stopping(tmp_path: Path, notify_socket: FakeNotifySocket) -> None:
    async with running_gateway(tmp_path / "state"):
        await notify_socket.wait_for("READY=1", timeout=5)
        await asyncio.sleep(0.5)
    assert notify_socket.count("WATCHDOG=1") == 0
    assert notify_socket.count("STOPPING=1") == 1


def test_watchdog_interval_from_environment() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "2"}, pid=2) == 30.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None


def test_notifier_abstract_socket_and_missing_peer(short_dir: Path) -> None:
    name = f"fbgw-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    server.settimeout(2)
    try:
        notifier = SdNotifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier is not None
        assert notifier.notify("READY=1", "STATUS=two\nlines")
        assert server.recv(1024) == b"READY=1\nSTATUS=two lines"
    finally:
        server.close()
    assert notifier.notify("WATCHDOG=1") is False  # peer gone: counted, not raised
    assert notifier.failed == 1
    notifier.close()
    assert SdNotifier.from_env({}) is None
    assert SdNotifier.from_env({"NOTIFY_SOCKET": "relative"}) is None
