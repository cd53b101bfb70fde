"""Pair a Zigbee call button through the page: the real Zigbee driver (zigpy + zigpy-znp) on the ZNP
coordinator simulator over a pty, Chromium on top. Permit-join countdown, live join / interview / enrol
progress, naming, a live press in test mode, and removal (the device is told to leave the network).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import expect

from sims.znp import ZnpSimulator
from tests.support.broker import Mosquitto
from tests.web.browser import chromium, phone_page, shot
from tests.web.conftest import running_gateway
from tests.web.test_browser import T, base, sign_in

pytestmark = pytest.mark.timeout(150)

ZB_FAST = {
    "enabled": True,
    "reconnect_min_s": 0.2,
    "reconnect_max_s": 1.0,
    "availability_check_s": 0.2,
    "startup_timeout_s": 30,
}


async def test_pair_zigbee_button_through_the_page(tmp_path: Path, broker: Mosquitto) -> None:
    async with (
        ZnpSimulator(link=tmp_path / "ttyZNP", latency_s=0.002) as sim,
        running_gateway(tmp_path / "state", broker, drivers={"zigbee": {**ZB_FAST, "port": sim.path}}) as gw,
        chromium() as browser,
        phone_page(browser, "zigbee") as page,
    ):
        zb = gw.drivers["zigbee"]
        for _ in range(1500):
            if zb.health().state == "up":
                break
            await asyncio.sleep(0.02)
        assert zb.health().state == "up", zb.health()
        await sign_in(page, gw)
        await page.click("nav.tabs a[href='/add']")
        await page.click("#transports button[data-transport=zigbee]")
        await page.click("#pair-start")
        await expect(page.locator("#countdown")).to_contain_text("配对剩余", timeout=T)
        for _ in range(250):
            if sim.permit_open:
                break
            await asyncio.sleep(0.02)
        assert sim.permit_open
        dev = sim.join("button")
        dev_id = f"zb-{dev.ieee_hex}"
        card = page.locator(f"article.pcard[data-device={dev_id}]")
        for stage in ("joined", "interview", "enrolled"):
            await expect(card.locator(f"li[data-step={stage}]")).to_have_class("done", timeout=20_000)
        await shot(page, "add-zigbee-real")
        await card.locator("input.new-name").fill("床头按钮", timeout=20_000)
        await card.locator("select.room-select").select_option("bedroom")
        await card.locator("button.new-save").click()
        await expect(page.locator("#flash")).to_contain_text("床头按钮")
        registered = gw.registry.get(dev_id)
        assert registered is not None and registered.type == "call_button" and registered.room == "bedroom"

        await page.click("nav.tabs a[href='/test']")
        await asyncio.sleep(0.3)
        sim.alarm(dev.name)
        row = page.locator(f'#events li[data-device={dev_id}][data-kind="alarm.emergency_call"]')
        await expect(row).to_have_class("delivered", timeout=T)
        await expect(row).to_contain_text("床头按钮")

        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await page.click("nav.tabs a[href='/devices']")
        await page.click(f"#dev-{dev_id} a")
        await page.check("#dev-remove-confirm")
        await page.click("#dev-remove")
        await expect(page).to_have_url(base(gw) + "/devices", timeout=20_000)
        await expect(page.locator(f"#dev-{dev_id}")).to_have_count(0)
        assert gw.registry.get(dev_id) is None
        for _ in range(250):  # the driver told the device to leave the network
            if dev.name not in sim.devices:
                break
            await asyncio.sleep(0.02)
        assert dev.name not in sim.devices
