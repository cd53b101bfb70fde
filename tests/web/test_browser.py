"""The technician's page in real headless Chromium on a phone-sized screen, against an in-process gateway."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from gateway.app import Gateway
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.web.a11y import check_page
from tests.web.browser import chromium, phone_page, shot
from tests.web.conftest import code_of, running_gateway
from tests.web.fakes import FakeBle, FakeZigbee, attach

pytestmark = pytest.mark.timeout(120)

T = 10_000  # ms: generous waits for a loaded 2-core machine


def base(gw: Gateway) -> str:
    return f"http://127.0.0.1:{gw.web.port}"


async def sign_in(page: Page, gw: Gateway) -> None:
    await page.goto(base(gw) + "/")
    await expect(page).to_have_url(base(gw) + "/login")
    await shot(page, "login")
    await page.fill("#code", code_of(gw))
    await page.click("#login-submit")
    await expect(page).to_have_url(base(gw) + "/")
    await expect(page.locator("#st-gateway")).to_have_text(gw.id)


async def test_sign_in_language_switch_and_sign_out(tmp_path: Path, broker: Mosquitto) -> None:
    async with (
        running_gateway(tmp_path, broker) as gw,
        chromium() as browser,
        phone_page(browser, "lang") as page,
    ):
        await page.goto(base(gw) + "/login")
        await page.fill("#code", "00000000")
        await page.click("#login-submit")
        await expect(page.locator("#login-error")).to_contain_text("安装码不正确")
        await sign_in(page, gw)
        await expect(page.locator("h1")).to_have_text("状态")
        await expect(page.locator("#st-uplink")).to_have_text("在线")
        await shot(page, "status")
        await page.click("#lang-switch")
        await expect(page.locator("h1")).to_have_text("Status")
        await expect(page.locator("nav.tabs a.on")).to_have_text("Status")
        await expect(page.locator("#st-uplink")).to_have_text("online")
        await page.click("nav.tabs a[href='/devices']")
        await expect(page.locator("h1")).to_have_text("Devices by room")
        await page.click("#lang-switch")
        await expect(page.locator("h1")).to_have_text("设备（按房间）")
        await page.click("#logout")
        await expect(page).to_have_url(base(gw) + "/login")
        await page.goto(base(gw) + "/devices")
        await expect(page).to_have_url(base(gw) + "/login")


async def test_install_a_home_end_to_end(tmp_path: Path, broker: Mosquitto) -> None:
    """Pair sim, Zigbee and BLE devices through the page, watch a press live, remove one, pass acceptance."""
    async with (
        running_gateway(tmp_path, broker) as gw,
        Collector(broker.host, broker.port) as col,
        chromium() as browser,
        phone_page(browser, "install") as page,
    ):
        zigbee_radio = attach(gw, FakeZigbee)
        ble_radio = attach(gw, FakeBle)
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await sign_in(page, gw)

        # --- sim: pairing opens, a device joins, the technician names it and picks its room
        await page.click("nav.tabs a[href='/add']")
        await page.click("#transports button[data-transport=sim]")
        await page.click("#pair-start")
        card = page.locator("article.pcard[data-device=sim-new-1]")
        await card.locator("input.new-name").fill("卫生间按钮", timeout=T)
        await card.locator("select.room-select").select_option("bathroom")
        await card.locator("button.new-save").click()
        await expect(page.locator("#flash")).to_contain_text("卫生间按钮")
        await expect(card).to_have_attribute("data-named", "1", timeout=T)
        assert gw.registry.get("sim-new-1").room == "bathroom"

        # --- Zigbee: permit-join countdown, join / interview / enrol progress
        await page.click("#transports button[data-transport=zigbee]")
        await page.click("#pair-start")
        await expect(page.locator("#countdown")).to_contain_text("配对剩余")
        card = page.locator("article.pcard[data-device=zb-00124b0001a2b3c4]")
        for stage in ("joined", "interview", "enrolled"):
            await expect(card.locator(f"li[data-step={stage}]")).to_have_class("done", timeout=T)
        await shot(page, "add-zigbee")
        await card.locator("input.new-name").fill("床头按钮 Zigbee")
        await card.locator("select.room-select").select_option("bedroom")
        await card.locator("button.new-save").click()
        await expect(page.locator("#flash")).to_contain_text("床头按钮 Zigbee")
        zb = gw.registry.get("zb-00124b0001a2b3c4")
        assert zb is not None and zb.name == "床头按钮 Zigbee" and zb.room == "bedroom"

        # --- BLE: live candidates by signal strength, pick one, enter its bindkey
        await page.click("#transports button[data-transport=ble]")
        await page.click("#pair-start")
        await expect(page.locator("#candidates li")).to_have_count(2, timeout=T)
        await expect(page.locator("#candidates li").first).to_have_attribute("data-address", "A4:C1:38:33:44:55")
        await check_page(page, "zh", {gw.id})  # nearby candidates: a list of real buttons, in Chinese
        await page.locator("#candidates li").first.click()
        await expect(page.locator("#adopt-address")).to_have_value("A4:C1:38:33:44:55")
        await page.select_option("#adopt-type", "mattress")
        await page.fill("#adopt-bindkey", "0123456789abcdef0123456789abcdef")
        await page.fill("#adopt-name", "智能床垫")
        await page.select_option("#adopt-room", "bedroom")
        await shot(page, "add-ble")
        await page.click("#adopt-submit")
        await expect(page.locator("article.pcard[data-device=ble-a4c138334455]")).to_have_attribute(
            "data-named", "1", timeout=T
        )
        ble = gw.registry.get("ble-a4c138334455")
        assert ble is not None and ble.secret == "0123456789abcdef0123456789abcdef" and ble.type == "mattress"

        # --- test mode: a press shows up live with its latency to the outbox and to the broker
        await page.click("nav.tabs a[href='/test']")
        await expect(page.locator("h1")).to_have_text("测试模式")
        await asyncio.sleep(0.3)  # the page's live stream connects
        sim = gw.drivers["sim"]
        await sim.inject("btn-2", "battery", 91)  # the button's periodic battery report: shown, not a test
        await expect(page.locator("#events li[data-device=btn-2]")).to_have_count(1, timeout=T)
        await sim.inject("btn-1", "press", True, trace="browser-press")
        row = page.locator('#events li[data-device=btn-1][data-kind="alarm.emergency_call"]')
        await expect(row).to_have_class("delivered", timeout=T)
        await expect(row.locator(".lat")).to_contain_text("到达平台")
        await expect(page.locator("#tested li[data-device=btn-1]")).to_have_count(1)
        await expect(page.locator("#tested li[data-device=btn-2]")).to_have_count(0)
        await shot(page, "test")
        # installation test mode: the technician's button turns it on (30 min) and off again
        await expect(page.locator("#test-mode-state")).to_have_text("测试模式未开启", timeout=T)
        await page.click("#test-mode-on")
        await expect(page.locator("#test-mode-state")).to_have_text("测试模式已开启", timeout=T)
        assert gw.services.test_mode.test_mode_active
        await page.click("#test-mode-off")
        await expect(page.locator("#test-mode-state")).to_have_text("测试模式未开启", timeout=T)
        assert not gw.services.test_mode.test_mode_active

        # --- remove a device from the devices page (and from its radio)
        await page.click("nav.tabs a[href='/devices']")
        await page.click("#dev-sim-new-1 a")
        await page.check("#dev-remove-confirm")
        await page.click("#dev-remove")
        await expect(page).to_have_url(base(gw) + "/devices", timeout=T)
        await expect(page.locator("#dev-sim-new-1")).to_have_count(0)
        assert gw.registry.get("sim-new-1") is None
        await shot(page, "devices")

        # --- acceptance: red until every device is tested and the uplink verified, then green
        await page.click("nav.tabs a[href='/acceptance']")
        await expect(page.locator("#verdict")).to_have_class("verdict bad")
        await expect(page.locator("#chk-call_buttons")).to_have_class("bad")
        await asyncio.sleep(0.3)
        # what devices say by themselves (battery, vital signs) leaves every device untested
        async with page.expect_response(lambda r: r.url.endswith("/api/acceptance"), timeout=T):
            await sim.inject("bed-1", "heart_rate", 72)  # the page refreshes its checklist on each event
            for dev in gw.registry.all("sim"):
                if "battery" in dev.capabilities:
                    await sim.inject(dev.id, "battery", 80)
        chk = gw.services.web.checklist("zh")
        assert {d["id"] for d in chk["devices"] if d["tested"]} == {"btn-1"}  # pressed in test mode above
        await expect(page.locator("#chk-bed_or_vitals")).to_have_class("bad")
        await expect(page.locator("#chk-devices")).to_have_class("bad")
        # the technician triggers each device: presses, opens the door, walks past, sprays, lies on the bed
        actions: dict[str, object] = {
            "press": True,
            "contact": "open",
            "motion": True,
            "smoke": True,
            "gas": True,
            "leak": True,
            "in_bed": True,
        }
        for dev in gw.registry.all("sim"):
            cap = next(c for c in dev.capabilities if c in actions)
            await sim.inject(dev.id, cap, actions[cap])
        await zigbee_radio.press("zb-00124b0001a2b3c4")
        await ble_radio.press("ble-a4c138334455")
        await expect(page.locator("#chk-call_buttons")).to_have_class("ok", timeout=T)
        await expect(page.locator("#chk-bed_or_vitals")).to_have_class("ok", timeout=T)
        await expect(page.locator("#chk-devices")).to_have_class("ok", timeout=T)
        await expect(page.locator("#chk-uplink")).to_have_class("ok", timeout=T)
        await expect(page.locator("#verdict")).to_have_class("verdict bad")  # voice/video still missing
        await page.fill("form.manual input[name=note]", "SN-VV-0042")
        await page.fill("form.manual input[name=by]", "王师傅")
        await page.click("form.manual button")
        await expect(page.locator("#chk-voice_video")).to_have_class("ok", timeout=T)
        await expect(page.locator("#verdict")).to_have_class("verdict ok", timeout=T)
        await expect(page.locator("#verdict")).to_have_text("验收通过")
        await shot(page, "acceptance")
        await page.click("#acc-submit")
        await expect(page.locator("#acc-result")).to_contain_text(re.compile("已提交|平台已收到"), timeout=T)
        event_id = await page.locator("#acc-result").get_attribute("data-event")
        await col.wait_for(lambda c: any(e["id"] == event_id for e in c.events), timeout=10)
        ev = next(e for e in col.events if e["id"] == event_id)
        assert ev["kind"] == "install.acceptance" and ev["data"]["passed"] is True
        assert {i["key"] for i in ev["data"]["items"] if i["ok"]} == {
            "gateway",
            "voice_video",
            "call_buttons",
            "bed_or_vitals",
        }

        # --- printable report
        await page.goto(base(gw) + "/acceptance/report")
        await expect(page.locator("#r-result")).to_have_text("验收通过")
        await expect(page.locator("table.devices")).to_contain_text("智能床垫")
        await shot(page, "report")
