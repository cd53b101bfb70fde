"""A whole gateway: holding the install button on the box (GPIO, pipe-backed lines) opens the install window,
which opens the access point on the mocked NetworkManager; closing the window takes it down. The status API
says what the access point is doing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import drivers.gpio
import gateway.feedback.outputs
from gateway.app import Gateway
from gateway.web.auth import LANG_COOKIE
from sims.networkmanager import MockNetworkManager, NetworkManagerView
from tests.drivers.gpio.conftest import CHIP, cord
from tests.drivers.gpio.fakes import FakeLines, RecordingOutputs
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config
from tests.web.conftest import client_for, code_of, sign_in

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLines]:
    fake = FakeLines()
    monkeypatch.setattr(drivers.gpio, "default_line_factory", fake)
    monkeypatch.setattr(gateway.feedback.outputs, "open_outputs", lambda settings: (RecordingOutputs(), []))
    yield fake
    fake.close()


async def until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_holding_the_install_button_opens_the_access_point_until_the_window_closes(
    tmp_path: Path, broker: Mosquitto, lines: FakeLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = lines.add(CHIP, 5, level=False)
    button = cord("install", 5, kind="install_button", room="", contact="no", long_press_ms=300)
    state = tmp_path / "s"
    (state / "web").mkdir(parents=True)
    (state / "web" / "commissioned").write_text("0\n")  # a box in service: the page starts closed
    cfg = make_config(
        state,
        broker.url,
        drivers={"gpio": {"enabled": True, "inputs": [button]}},
        hotspot={"enabled": True},
        web={"discovery": False},
    )
    with MockNetworkManager(wifi=("wlan0",), ethernet=("eth0",)) as nm:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", nm.address)
        async with (
            Collector(broker.host, broker.port) as col,
            Gateway(cfg) as gw,
            NetworkManagerView(nm.address) as view,
            aiohttp.ClientSession() as http,
        ):
            assert gw.services is not None
            web, hotspot = gw.services.web, gw.services.hotspot
            await hotspot.settle()
            assert hotspot.status()["state"] == "off" and await view.connections() == {}

            pipe.edges([True])  # held down past long_press_ms
            await col.wait_for(lambda c: "install.window_requested" in c.kinds())
            await until(lambda: hotspot.is_on)
            [doc] = (await view.connections()).values()
            assert doc["802-11-wireless"]["ssid"] == b"fbgw-gw-test" and doc["802-11-wireless"]["mode"] == "ap"
            assert hotspot.credentials is not None
            assert doc["802-11-wireless-security"]["psk"] == hotspot.credentials.password
            assert len(await view.active_connections()) == 1
            async with http.get(f"http://127.0.0.1:{gw.services.http.port}/api/status") as resp:
                status = await resp.json()
            assert status["hotspot"] == {
                "state": "on",
                "reason": "",
                "reason_code": "",
                "ssid": "fbgw-gw-test",
                "interface": "wlan0",
                "address": "10.42.0.1",
            }
            assert hotspot.credentials.password not in str(status)
            pipe.edges([False])

            web.close_install_window()
            await until(lambda: not hotspot.is_on)
            await hotspot.settle()
            assert await view.connections() == {} and await view.active_connections() == []


async def test_status_page_says_why_there_is_no_access_point(
    tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A box whose NetworkManager is not running: the gateway runs, the page says so in the technician's words."""
    with MockNetworkManager(running=False) as nm:  # the system bus, without NetworkManager on it
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", nm.address)
        cfg = make_config(tmp_path / "state", broker.url, hotspot={"enabled": True}, web={"discovery": False})
        async with Gateway(cfg) as gw:
            assert gw.services is not None
            await gw.services.hotspot.settle()
            assert gw.services.hotspot.status()["reason_code"] == "no_networkmanager"
            async with client_for(gw) as client:
                await sign_in(client, code_of(gw))
                for lang, state, why in (
                    ("en", "unavailable", "NetworkManager is not running"),
                    ("zh", "不可用", "网络管理服务未运行"),
                ):
                    client.session.cookie_jar.update_cookies({LANG_COOKIE: lang})
                    page = await (await client.get("/")).text()
                    card = page[page.index('id="st-hotspot"') :][:300]
                    assert state in card and why in card, card
