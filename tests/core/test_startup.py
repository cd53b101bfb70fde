"""Start-up: the web API answers and a light driver's readings are accepted while a radio stack is still loading.

The slow radio is a driver package whose import blocks until the test lets it finish (as zigpy, bleak and the
Zigbee device library take seconds to import on a small board). How fast start-up is, is measured by ``bench``.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.events import Event
from drivers.base import Driver, DriverContext, DriverHealth
from gateway.app import Gateway
from gateway.tools.local_broker import free_port
from tests.support.broker import Mosquitto
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)

SLOW = "drivers.slowradio_test"


class SlowRadio(Driver):
    transport = "slowradio_test"

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def start_pairing(self, seconds: int) -> None:
        pass

    async def remove(self, device_id: str) -> None:
        pass

    def health(self) -> DriverHealth:
        return DriverHealth(self.transport, "up")


class _BlockingImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``SLOW``; importing it blocks (in the gateway's import thread) until ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.importing = threading.Event()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        return importlib.machinery.ModuleSpec(fullname, self) if fullname == SLOW else None

    def exec_module(self, module: types.ModuleType) -> None:
        self.importing.set()
        if not self.release.wait(30):
            raise ImportError("the test never let the slow radio finish importing")

        def create_driver(section: dict[str, Any], ctx: DriverContext) -> Driver:
            return SlowRadio(ctx)

        module.create_driver = create_driver  # type: ignore[attr-defined]


@pytest.fixture
def slow_radio() -> Iterator[_BlockingImport]:
    finder = _BlockingImport()
    sys.meta_path.insert(0, finder)
    try:
        yield finder
    finally:
        finder.release.set()
        sys.meta_path.remove(finder)
        sys.modules.pop(SLOW, None)


async def _poll(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    """Until the server answers something other than 503 (or refuses the connection)."""
    async with asyncio.timeout(20):
        while True:
            try:
                async with http.request(method, url, **kw) as resp:
                    if resp.status != 503:
                        return resp.status, await resp.json()
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.01)


async def test_api_and_sim_alarm_before_the_radio_stack_has_loaded(
    tmp_path: Path, broker: Mosquitto, slow_radio: _BlockingImport
) -> None:
    port = free_port()
    cfg = make_config(
        tmp_path / "s",
        broker.url,
        http={"listen": f"127.0.0.1:{port}"},
        drivers={"slowradio_test": {"enabled": True}},
    )
    gw = Gateway(cfg)
    committed: list[Event] = []
    gw.outbox.committed.connect(committed.extend)
    entering = asyncio.create_task(gw.__aenter__())
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            status, body = await _poll(http, "GET", base + "/api/status")
            assert status == 200
            states = {d["transport"]: d["state"] for d in body["drivers"]}
            assert states["slowradio_test"] == "starting"

            alarm = {"device": "btn-1", "capability": "press", "value": True}
            status, body = await _poll(http, "POST", base + "/api/sim/readings", json=alarm)
            assert status == 200, body
            assert [e["kind"] for e in body["events"]] == ["alarm.emergency_call"]
            assert any(e.kind == "alarm.emergency_call" for e in committed)

            assert slow_radio.importing.is_set() and not entering.done()  # the radio is still importing
            assert gw.services is not None  # every service has started

            # The device list waits for the drivers still loading: a short list is not the whole home.
            listing = asyncio.create_task(_poll(http, "GET", base + "/api/devices"))
            await asyncio.sleep(0.5)
            assert not listing.done()
            slow_radio.release.set()
            status, body = await listing
            assert status == 200 and body["loading"] == []
            assert {"btn-1", "smoke-1"} <= {d["id"] for d in body["devices"]}
        async with asyncio.timeout(20):
            await entering
        assert isinstance(gw.drivers["slowradio_test"], SlowRadio)
        assert gw.started.is_set()
    finally:
        slow_radio.release.set()
        if not entering.done():
            await asyncio.wait([entering], timeout=20)
        await gw.__aexit__(None, None, None)
