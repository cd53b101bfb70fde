"""The way in without a LAN on the rig: holding the install button on the box opens the install window and the
install access point (through NetworkManager: the rig's mocked one on its system bus, or a real rig's own), with
the box's own network name and password (the ones on its label); when the window closes, the access point goes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from gateway.hotspot.credentials import WIFI_FILE
from hil_tests.bringup import RigEdges
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform
from hil_tests.report import ScenarioResult
from sims.networkmanager import NetworkManagerView

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="session")]

AP_TIMEOUT_S = 15.0


async def _hotspot(rig: RigRunner) -> dict[str, Any]:
    assert rig.gateway is not None
    status = await asyncio.to_thread(rig.gateway.get, "/api/status")
    return dict(status["hotspot"])


async def _until_state(rig: RigRunner, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + AP_TIMEOUT_S
    while (hotspot := await _hotspot(rig))["state"] != state:
        assert time.monotonic() < deadline, f"access point not {state} within {AP_TIMEOUT_S:g} s: {hotspot}"
        await asyncio.sleep(0.05)
    return hotspot


async def test_install_wifi(rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult) -> None:
    """Per sample: the button held -> ``install.window_requested`` at the platform and the access point on (an
    ``ap`` connection with WPA2-PSK and the box's password, shared IPv4); the platform shortens the window to
    1 s -> it closes and the connection is deactivated and deleted."""
    buttons = [str(raw["name"]) for raw in rig.rig.gpio.inputs if raw.get("kind") == "install_button"]
    if rig.wiring is None or not buttons:
        pytest.skip("not on this rig: no install button (a GPIO input of kind install_button) the suite can hold")
    if rig.rig.hotspot.mode == "absent":
        pytest.skip("not on this rig: no NetworkManager for the access point ([hotspot] mode)")
    button = buttons[0]
    wifi = json.loads((rig.state_dir / WIFI_FILE).read_text())
    for _ in range(min(rig.rig.samples, 3)):
        t0 = time.monotonic()
        await rig.wiring.set(button, True)
        await platform.wait(t0, "install.window_requested", f"gpio-{button}")
        hotspot = await _until_state(rig, "on")
        result.latencies_ms.append((time.monotonic() - t0) * 1000)
        await rig.wiring.set(button, False)
        assert hotspot["ssid"] == wifi["ssid"] and wifi["password"] not in json.dumps(hotspot)
        if rig.nm is not None:
            async with NetworkManagerView(rig.nm.address) as nm:
                [doc] = (await nm.connections()).values()
                assert doc["802-11-wireless"]["mode"] == "ap"
                assert doc["802-11-wireless"]["ssid"] == wifi["ssid"].encode()
                assert doc["802-11-wireless-security"]["psk"] == wifi["password"]
                assert doc["ipv4"]["method"] == "shared"
                assert len(await nm.active_connections()) == 1

        closing = await platform.command("open_install_window", {"seconds": 1})
        assert closing["status"] == "ok", closing
        await _until_state(rig, "off")
        if rig.nm is not None:
            async with NetworkManagerView(rig.nm.address) as nm:
                assert await nm.connections() == {} and await nm.active_connections() == []
    result.reason = (
        f"button {button}; latency: install button held -> access point on (long_press_ms included); "
        "window closed -> access point deactivated and deleted"
    )
