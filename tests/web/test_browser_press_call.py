"""The device page's "a press is a call" box for a generic remote: the real Zigbee driver on the ZNP simulator
(a Sonoff SNZB-01 with its published signature), Chromium on top. Unticked, a press is ignored; ticked, the
next press is an emergency call on the page and on the broker; the choice survives a reload and can be undone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import expect

from sims.znp import ZnpSimulator
from tests.drivers.zigbee.conftest import wait_for
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.web.a11y import check_page
from tests.web.browser import chromium, phone_page, shot
from tests.web.conftest import running_gateway
from tests.web.test_browser import T, base, sign_in
from tests.web.test_browser_zigbee import ZB_FAST

pytestmark = pytest.mark.timeout(150)

CALL = "alarm.emergency_call"


async def test_ticking_press_is_call_makes_the_remotes_press_a_call(tmp_path: Path, broker: Mosquitto) -> None:
    async with (
        ZnpSimulator(link=tmp_path / "ttyZNP", latency_s=0.002) as sim,
        running_gateway(tmp_path / "state", broker, drivers={"zigbee": {**ZB_FAST, "port": sim.path}}) as gw,
        Collector(broker.host, broker.port) as col,
        chromium() as browser,
        phone_page(browser, "press-call") as page,
    ):
        zb = gw.drivers["zigbee"]
        await wait_for(lambda: zb.health().state == "up", 30, "zigbee network up")
        await zb.start_pairing(60)
        dev = sim.join("sonoff-button")
        dev_id = f"zb-{dev.ieee_hex}"
        await wait_for(lambda: gw.registry.get(dev_id) is not None, 20, "remote paired")
        remote = gw.registry.get(dev_id)
        assert remote is not None and remote.type == "remote" and remote.params["press_is_call"] is False

        await sign_in(page, gw)
        await page.goto(f"{base(gw)}/devices/{dev_id}")
        box = page.locator("#dev-press-call")
        await expect(box).not_to_be_checked(timeout=T)
        await expect(page.locator("label.check", has=box)).to_contain_text("按下即呼叫")
        await check_page(page, "zh", {dev_id, gw.id, remote.name})  # its name is its model until renamed

        ignored = zb.counters.get("presses_ignored", 0)
        sim.act(dev.name, "press")
        await wait_for(lambda: zb.counters.get("presses_ignored", 0) > ignored, 10, "the press ignored")

        await box.check()
        await expect(page.locator("#flash")).to_contain_text("已保存", timeout=T)
        await wait_for(lambda: gw.registry.get(dev_id).params["press_is_call"] is True, 5, "press_is_call saved")  # type: ignore[union-attr]
        await shot(page, "device-press-call")

        sim.act(dev.name, "press")
        await expect(page.locator(f'#dev-history li[data-kind="{CALL}"]')).to_have_count(1, timeout=T)
        await col.wait_for(lambda c: any(e["kind"] == CALL and e["device"]["id"] == dev_id for e in c.events), 20)
        assert [e["data"].get("gesture") for e in col.events if e["kind"] == CALL] == ["single"]

        await page.reload()
        await expect(box).to_be_checked(timeout=T)
        await box.uncheck()
        await expect(page.locator("#flash")).to_contain_text("已保存", timeout=T)
        await wait_for(lambda: gw.registry.get(dev_id).params["press_is_call"] is False, 5, "press_is_call undone")  # type: ignore[union-attr]
        ignored = zb.counters.get("presses_ignored", 0)
        sim.act(dev.name, "press")
        await wait_for(lambda: zb.counters.get("presses_ignored", 0) > ignored, 10, "the press ignored again")
        await asyncio.sleep(0.5)
        assert sum(e["kind"] == CALL for e in col.events) == 1
