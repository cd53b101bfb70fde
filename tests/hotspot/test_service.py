"""The install access point against python-dbusmock's NetworkManager (``networkmanager`` template, completed by
``sims/networkmanager``) on a private system bus: the real service, the real dbus-fast client."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.events import EventDraft, Priority
from core.signal import Signal
from gateway.hotspot import HotspotService
from gateway.hotspot.credentials import PASSWORD_LEN, WIFI_FILE
from sims.networkmanager import MockNetworkManager, NetworkManagerView
from sims.networkmanager.harness import STATE_DISCONNECTED
from tests.support.context import FakeCore, fake_context
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)


class FakeWindow:
    """The install window as the technician service offers it (:class:`gateway.ports.InstallWindow`)."""

    def __init__(self) -> None:
        self.window_changed: Signal[bool] = Signal("window")
        self.window_is_open = False
        self.window_opened_by = ""

    def open_install_window(self, seconds: float | None = None, by: str = "platform") -> int:
        was = self.window_is_open
        self.window_is_open, self.window_opened_by = True, by
        if not was:
            self.window_changed.emit(True)
        return 3600

    def close(self) -> None:
        self.window_is_open = False
        self.window_changed.emit(False)


async def until(check: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def core_with(tmp_path: Path, **hotspot: Any) -> FakeCore:
    cfg = make_config(tmp_path / "state", "mqtt://127.0.0.1:9", hotspot={"enabled": True, **hotspot})
    return fake_context(tmp_path / "state", cfg, gateway_id="gw-0042")


@pytest.fixture
def nm(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockNetworkManager]:
    with MockNetworkManager(wifi=("wlan0",), ethernet=("eth0",)) as mock:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", mock.address)
        yield mock


async def test_install_button_opens_the_access_point_and_closing_the_window_removes_it(
    tmp_path: Path, nm: MockNetworkManager
) -> None:
    core = core_with(tmp_path)
    window = FakeWindow()
    svc = HotspotService(core.ctx, window)
    await svc.start()
    try:
        creds_file = core.ctx.state_dir / WIFI_FILE
        assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
        assert svc.credentials is not None
        assert svc.credentials.ssid == "fbgw-gw-0042" and len(svc.credentials.password) == PASSWORD_LEN
        async with NetworkManagerView(nm.address) as view:
            assert await view.connections() == {}
            window.open_install_window(by="install button gpio-install")
            await until(lambda: svc.is_on)
            [(path, doc)] = (await view.connections()).items()
            assert doc["connection"]["id"] == "fbgw-hotspot" and doc["connection"]["interface-name"] == "wlan0"
            assert doc["connection"]["autoconnect"] is False
            assert doc["802-11-wireless"]["ssid"] == b"fbgw-gw-0042" and doc["802-11-wireless"]["mode"] == "ap"
            security = doc["802-11-wireless-security"]
            assert security["key-mgmt"] == "wpa-psk" and security["psk"] == svc.credentials.password
            assert security["proto"] == ["rsn"]
            assert doc["ipv4"]["method"] == "shared"
            assert doc["ipv4"]["address-data"] == [{"address": "10.42.0.1", "prefix": 24}]
            [active] = await view.active_connections()
            assert await view.prop(active, "org.freedesktop.NetworkManager.Connection.Active", "Connection") == path
            wlan = "/org/freedesktop/NetworkManager/Devices/wlan0"
            assert await view.prop(wlan, "org.freedesktop.NetworkManager.Device", "ActiveConnection") == active
            assert svc.status() == {
                "state": "on",
                "reason": "",
                "reason_code": "",
                "ssid": "fbgw-gw-0042",
                "interface": "wlan0",
                "address": "10.42.0.1",
            }
            assert "password" not in str(svc.status()) and svc.credentials.password not in str(svc.status())

            window.close()
            await until(lambda: not svc.is_on)
            assert await view.active_connections() == []
            assert await view.connections() == {}
            assert svc.status()["state"] == "off"

            window.open_install_window(by="install button gpio-install")  # again: the same network
            await until(lambda: svc.is_on)
            [doc2] = (await view.connections()).values()
            assert doc2["802-11-wireless-security"]["psk"] == security["psk"]
    finally:
        await svc.stop()
    async with NetworkManagerView(nm.address) as view:  # stopping the gateway takes the access point down
        assert await view.connections() == {} and await view.active_connections() == []


async def test_credentials_are_kept_across_restarts(tmp_path: Path, nm: MockNetworkManager) -> None:
    core = core_with(tmp_path)
    first = HotspotService(core.ctx, FakeWindow())
    await first.start()
    await first.stop()
    second = HotspotService(core.ctx, FakeWindow())
    await second.start()
    await second.stop()
    assert first.credentials == second.credentials


async def test_a_window_opened_by_the_platform_opens_no_access_point(tmp_path: Path, nm: MockNetworkManager) -> None:
    core = core_with(tmp_path)
    window = FakeWindow()
    svc = HotspotService(core.ctx, window)
    await svc.start()
    try:
        window.open_install_window(by="platform")
        await asyncio.sleep(0.3)
        assert not svc.is_on and svc.status()["state"] == "off"
    finally:
        await svc.stop()


async def test_first_boot_without_a_network_opens_the_access_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockNetworkManager(wifi=("wlan0",), state=STATE_DISCONNECTED) as nm:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", nm.address)
        core = core_with(tmp_path, offline_after_s=1)
        core.uplink.go(False)
        window = FakeWindow()
        window.open_install_window(by="first boot")  # the technician service opens it before we start
        svc = HotspotService(core.ctx, window)
        await svc.start()
        try:
            await asyncio.sleep(0.5)
            assert not svc.is_on  # it gives the network offline_after_s to appear
            await until(lambda: svc.is_on, timeout=5)
            async with NetworkManagerView(nm.address) as view:
                [doc] = (await view.connections()).values()
                assert doc["802-11-wireless"]["mode"] == "ap"
        finally:
            await svc.stop()


async def test_first_boot_with_a_network_opens_no_access_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with MockNetworkManager(wifi=("wlan0",), state=STATE_DISCONNECTED) as nm:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", nm.address)
        core = core_with(tmp_path, offline_after_s=1)
        core.uplink.go(False)
        window = FakeWindow()
        window.open_install_window(by="first boot")
        svc = HotspotService(core.ctx, window)
        await svc.start()
        try:
            nm.set_state(70)  # the Ethernet cable was plugged in: NetworkManager has a default route
            await asyncio.sleep(2.0)
            assert not svc.is_on
            async with NetworkManagerView(nm.address) as view:
                assert await view.connections() == {}
        finally:
            await svc.stop()


@pytest.mark.parametrize(
    ("wifi", "running", "reason", "code"),
    [
        ((), True, "NetworkManager has no Wi-Fi device", "no_wifi_device"),
        (("wlan0",), False, "NetworkManager is not running", "no_networkmanager"),
    ],
)
async def test_without_wifi_or_networkmanager_the_reason_is_shown_and_the_service_keeps_running(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    wifi: tuple[str, ...],
    running: bool,
    reason: str,
    code: str,
) -> None:
    with MockNetworkManager(wifi=wifi, ethernet=("eth0",), running=running) as nm:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", nm.address)
        core = core_with(tmp_path)
        window = FakeWindow()
        svc = HotspotService(core.ctx, window)
        await svc.start()
        try:
            window.open_install_window(by="install button gpio-install")
            await until(lambda: svc.status()["state"] == "unavailable" and reason in svc.status()["reason"])
            assert not svc.is_on and svc.status()["reason_code"] == code
            assert f"no access point for the install window: {reason}" in caplog.text
            window.close()
            await asyncio.sleep(0.1)
            window.open_install_window(by="install button gpio-install")  # asks again, says why again
            await until(lambda: svc.status()["state"] == "unavailable")
        finally:
            await svc.stop()


async def test_no_system_bus_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    core = core_with(tmp_path)
    window = FakeWindow()
    svc = HotspotService(core.ctx, window)
    await svc.start()
    try:
        window.open_install_window(by="install button gpio-install")
        await until(lambda: svc.status()["state"] == "unavailable" and "system bus" in svc.status()["reason"])
        assert svc.status()["reason_code"] == "no_networkmanager"
    finally:
        await svc.stop()


async def test_an_access_point_left_by_a_killed_run_is_removed_at_start(tmp_path: Path, nm: MockNetworkManager) -> None:
    core = core_with(tmp_path)
    window = FakeWindow()
    crashed = HotspotService(core.ctx, window)
    await crashed.start()
    window.open_install_window(by="install button gpio-install")
    await until(lambda: crashed.is_on)
    crashed.client.close()  # the process died: nothing was stopped
    async with NetworkManagerView(nm.address) as view:
        assert len(await view.connections()) == 1
        fresh = HotspotService(core.ctx, FakeWindow())
        await fresh.start()
        try:
            await fresh.settle()
            assert await view.connections() == {}
        finally:
            await fresh.stop()


async def test_disabled_leaves_networkmanager_alone(tmp_path: Path, nm: MockNetworkManager) -> None:
    core = core_with(tmp_path, enabled=False)
    window = FakeWindow()
    svc = HotspotService(core.ctx, window)
    await svc.start()
    window.open_install_window(by="install button gpio-install")
    await asyncio.sleep(0.3)
    assert svc.status()["state"] == "disabled" and svc.credentials is None
    assert not (core.ctx.state_dir / WIFI_FILE).exists()
    async with NetworkManagerView(nm.address) as view:
        assert await view.connections() == {}
    await svc.stop()


async def test_the_button_held_while_the_window_is_already_open_opens_the_access_point(
    tmp_path: Path, nm: MockNetworkManager
) -> None:
    """First boot on a box with a LAN: the window is open, no access point; the technician holds the button."""
    core = core_with(tmp_path)
    window = FakeWindow()
    window.open_install_window(by="first boot")
    svc = HotspotService(core.ctx, window)
    await svc.start()
    try:
        await asyncio.sleep(0.3)
        assert not svc.is_on
        await core.ctx.emit([EventDraft("install.window_requested", Priority.ALERT)])  # the window stays open
        await until(lambda: svc.is_on)
        await core.ctx.emit([EventDraft("install.window_requested", Priority.ALERT)])  # held again: still one
        await svc.settle()
        async with NetworkManagerView(nm.address) as view:
            assert len(await view.connections()) == 1
    finally:
        await svc.stop()


async def test_a_wifi_device_that_carries_the_home_network_is_not_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The box is on the home's Wi-Fi (its uplink may run over it): an access point on the same radio would cut
    it off, so none is started; the technician opens the page on the home's network instead."""
    with MockNetworkManager(wifi=("wlan0",), wifi_connected=True) as nm:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", nm.address)
        core = core_with(tmp_path)
        window = FakeWindow()
        svc = HotspotService(core.ctx, window)
        await svc.start()
        try:
            window.open_install_window(by="install button gpio-install")
            await until(lambda: svc.status()["state"] == "unavailable")
            assert svc.status()["reason_code"] == "wifi_in_use" and "wlan0" in svc.status()["reason"]
            async with NetworkManagerView(nm.address) as view:
                assert await view.connections() == {}
        finally:
            await svc.stop()
