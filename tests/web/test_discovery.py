"""The page is advertised over mDNS (loopback only in tests) and a zeroconf browser finds it."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from gateway import __version__
from gateway.discovery import SERVICE_TYPE, plan
from tests.support.broker import Mosquitto
from tests.web.conftest import running_gateway

pytestmark = pytest.mark.timeout(60)


async def test_zeroconf_browser_finds_the_gateway(tmp_path: Path, broker: Mosquitto) -> None:
    gw_id = f"gw-mdns-{secrets.token_hex(4)}"  # unique: other gateways may be advertising on this host
    async with running_gateway(tmp_path, broker, gateway_id=gw_id, discovery=True) as gw:
        disc = gw.services.discovery
        await asyncio.wait_for(disc.registered.wait(), 15)
        found: asyncio.Queue[str] = asyncio.Queue()

        def on_change(zeroconf: object, service_type: str, name: str, state_change: ServiceStateChange) -> None:
            if state_change is ServiceStateChange.Added:
                found.put_nowait(name)

        azc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        browser = AsyncServiceBrowser(azc.zeroconf, SERVICE_TYPE, handlers=[on_change])
        try:
            name = await asyncio.wait_for(found.get(), 10)
            while name != f"fbgw-{gw_id}.{SERVICE_TYPE}":
                name = await asyncio.wait_for(found.get(), 10)
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            assert await info.async_request(azc.zeroconf, 3000)
            assert info.port == gw.web.port
            assert info.server == f"fbgw-{gw_id}.local."
            assert info.parsed_addresses() == ["127.0.0.1"]
            assert info.properties[b"id"] == gw_id.encode()
            assert info.properties[b"version"] == __version__.encode()
        finally:
            await browser.async_cancel()
            await azc.async_close()
    assert gw.services.discovery.zc is None  # unregistered and closed on stop


def test_advertise_where_the_page_listens() -> None:
    assert plan("127.0.0.1", []) == (["127.0.0.1"], ["127.0.0.1"])
    assert plan("192.168.1.20", []) == (["192.168.1.20"], ["192.168.1.20"])
    assert plan("127.0.0.1", ["10.0.0.5"]) == (["10.0.0.5"], ["10.0.0.5"])
    _, addresses = plan("0.0.0.0", [])
    assert "127.0.0.1" not in addresses


async def test_advertised_only_while_the_install_window_is_open(tmp_path: Path, broker: Mosquitto) -> None:
    gw_id = f"gw-mdns-{secrets.token_hex(4)}"
    async with running_gateway(tmp_path, broker, gateway_id=gw_id, discovery=True) as gw:
        disc, web = gw.services.discovery, gw.services.web
        await asyncio.wait_for(disc.registered.wait(), 15)  # first boot: the window is open
        web.close_install_window()
        for _ in range(100):
            if disc.zc is None:
                break
            await asyncio.sleep(0.05)
        assert disc.zc is None and not disc.registered.is_set(), "still advertising with the page closed"
        web.open_install_window(60, by="test")
        await asyncio.wait_for(disc.registered.wait(), 15)
