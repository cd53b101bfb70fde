"""A whole installation on a phone (390 x 844) in real Chromium, in Chinese and in English.

Every page on the way is checked with axe-core (no serious or critical violations), for touch targets of at
least 44 px and for overflow, and — in Chinese — for any English word or raw code. Screenshots of every step
are kept under ``build/web-shots/`` (see tests/web/browser.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from gateway.app import Gateway
from tests.support.broker import Mosquitto
from tests.web.a11y import check_page
from tests.web.browser import SHOTS_DIR, chromium, phone_page, shot
from tests.web.conftest import code_of, running_gateway
from tests.web.fakes import FakeBle, FakeZigbee, attach

pytestmark = pytest.mark.timeout(240)

T = 10_000


def base(gw: Gateway) -> str:
    return f"http://127.0.0.1:{gw.web.port}"


async def sign_in(page: Page, gw: Gateway, lang: str = "zh") -> None:
    await page.goto(base(gw) + "/login")
    await page.fill("#code", code_of(gw))
    await page.click("#login-submit")
    await expect(page).to_have_url(base(gw) + "/")
    if lang == "en":
        await page.click("#lang-switch")
        await expect(page.locator("h1")).to_have_text("Status")


async def step(page: Page, name: str, lang: str, allowed: set[str]) -> None:
    await shot(page, f"{lang}-{name}")
    await check_page(page, lang, allowed)


async def press_everything(gw: Gateway) -> None:
    """The technician triggers each simulated device: presses, opens the door, walks past, sprays, lies down."""
    actions: dict[str, object] = {
        "press": True,
        "contact": "open",
        "motion": True,
        "smoke": True,
        "gas": True,
        "leak": True,
        "in_bed": True,
    }
    sim = gw.drivers["sim"]
    for dev in gw.registry.all("sim"):
        cap = next(c for c in dev.capabilities if c in actions)
        await sim.inject(dev.id, cap, actions[cap])


async def test_whole_installation_in_chinese(tmp_path: Path, broker: Mosquitto) -> None:
    async with (
        running_gateway(tmp_path, broker) as gw,
        chromium() as browser,
        phone_page(browser, "install-zh") as page,
    ):
        svc = gw.services.web
        zigbee = attach(gw, FakeZigbee)
        zigbee.queue = ["00124b0001a2b3c4", "00124b0009f8e7d6"]
        attach(gw, FakeBle)
        allowed = {gw.id}
        await page.goto(base(gw) + "/login")
        await step(page, "login", "zh", allowed)
        await sign_in(page, gw)
        await expect(page.locator("#st-disk")).to_contain_text("已用")  # the percentage is the space used, said so
        await step(page, "status", "zh", allowed)

        # --- Add: Zigbee pairing card with steps and the family's instruction; named with a room from the list
        await page.click("nav.tabs a[href='/add']")
        await page.click("#transports button[data-transport=zigbee]")
        await expect(page.locator(".howto[data-for=zigbee]")).to_be_visible()
        await expect(page.locator(".howto[data-for=zigbee]")).to_contain_text("复位孔")
        await page.click("#pair-start")
        await expect(page.locator("body")).to_have_attribute("data-wake", "1")  # the screen stays on while pairing
        card = page.locator("article.pcard[data-device=zb-00124b0001a2b3c4]")
        for s in ("joined", "interview", "enrolled"):
            await expect(card.locator(f"li[data-step={s}]")).to_have_class("done", timeout=T)
        await expect(card.locator("li[data-step=named]")).not_to_have_class("done")
        await expect(card.locator("input.new-name")).to_have_value("")  # never the raw IEEE id
        await step(page, "add-zigbee-card", "zh", allowed)
        await card.locator("input.new-name").fill("入户门")
        await card.locator("select.room-select").select_option("hall")
        await card.locator("button.new-save").click()
        await expect(card.locator("li[data-step=named]")).to_have_class("done", timeout=T)
        front = gw.registry.get("zb-00124b0001a2b3c4")
        assert front is not None and front.name == "入户门" and front.room == "hall"

        # --- a second Zigbee pairing: the named device is not offered again, the new one is
        await page.click("nav.tabs a[href='/add']")
        await page.click("#transports button[data-transport=zigbee]")
        await expect(page.locator("article.pcard[data-device=zb-00124b0001a2b3c4]")).to_have_attribute(
            "data-named", "1"
        )
        await expect(page.locator("article.pcard form")).to_have_count(0)
        await page.click("#pair-start")
        second = page.locator("article.pcard[data-device=zb-00124b0009f8e7d6]")
        await expect(second.locator("form.name-form")).to_be_visible(timeout=T)
        await expect(page.locator("article.pcard[data-device=zb-00124b0001a2b3c4]")).to_have_count(0)
        await second.locator("input.new-name").fill("卧室烟感")
        await second.locator("select.room-select").select_option("__other")
        await second.locator("input[name=room_other]").fill("卧室")  # typed by hand: still the bedroom key
        await second.locator("button.new-save").click()
        await expect(second).to_have_attribute("data-named", "1", timeout=T)
        assert gw.registry.get("zb-00124b0009f8e7d6").room == "bedroom"
        front = gw.registry.get("zb-00124b0001a2b3c4")
        assert front.name == "入户门" and front.room == "hall"  # untouched

        # --- coordinator unplugged: no countdown, the reason in Chinese; the status page says it in words
        zigbee.unplugged = True
        await page.click("#pair-start")
        await expect(page.locator("#pair-failed")).to_be_visible(timeout=T)
        await expect(page.locator("#pair-failed")).to_contain_text("未连接")
        await expect(page.locator("#countdown")).not_to_have_class("badge ok")
        await step(page, "add-unplugged", "zh", allowed)
        await page.click("nav.tabs a[href='/']")
        await expect(page.locator("#st-radios li[data-transport=zigbee]")).to_contain_text("USB")
        await step(page, "status-unplugged", "zh", allowed)
        zigbee.unplugged = False

        # --- devices: search, untested list, the device page (identify, test, rename, move)
        await page.click("nav.tabs a[href='/devices']")
        await expect(page.locator("#untested-list li")).to_have_count(len(list(gw.registry)))
        await expect(page.locator("section.room[data-room=bedroom]")).to_have_count(1)
        await step(page, "devices", "zh", allowed)
        await page.fill("#dev-search", "烟感")
        await expect(page.locator("li.dev:visible")).to_have_count(2)  # the sim smoke detector and the new one
        await page.fill("#dev-search", "")
        await page.click("#dev-zb-00124b0001a2b3c4 a")
        await expect(page.locator("h1")).to_have_text("入户门")
        await page.click("#dev-identify")
        await expect(page.locator("#flash")).to_contain_text("闪灯")
        assert zigbee.identified == ["zb-00124b0001a2b3c4"]
        await page.click("#dev-test")
        await expect(page.locator("#dev-test-state")).to_contain_text("按下")
        await asyncio.sleep(0.3)
        await zigbee.press("zb-00124b0001a2b3c4")
        await expect(page.locator("#dev-test-state")).to_have_class("ok", timeout=T)
        await expect(page.locator("#dev-tested")).to_contain_text("已测试")
        await expect(page.locator('#dev-history li[data-kind="alarm.emergency_call"]')).to_contain_text("紧急呼叫")
        await zigbee.press("zb-00124b0001a2b3c4", lqi=180)  # live state: the signal band with its raw figure
        await expect(page.locator("#dev-signal")).to_have_text("良好 (LQI 180)", timeout=T)
        await step(page, "device", "zh", allowed | {"入户门"})
        svc.hub.close_all()  # the live stream drops (Wi-Fi hiccup): the page says so, then reconnects
        await expect(page.locator("#offline")).to_be_visible(timeout=T)
        await expect(page.locator("#offline")).to_contain_text("连接中断")
        await expect(page.locator("#offline")).to_be_hidden(timeout=T)
        await page.select_option("#dev-room", "living")
        await page.click("#dev-save")
        await expect(page.locator("#flash")).to_contain_text("已保存")
        assert gw.registry.get("zb-00124b0001a2b3c4").room == "living"

        # --- install window: warning at 10 minutes with extend, urgent at 2, then closed and reopened
        svc.window.open(500, by="platform")
        await page.click("nav.tabs a[href='/acceptance']")
        await expect(page.locator("#window-warn")).to_be_visible()
        await expect(page.locator("#window-text")).to_contain_text("9 分钟")
        await step(page, "window-warning", "zh", allowed)
        await page.click("#window-extend")
        await expect(page.locator("#window-warn")).to_be_hidden(timeout=T)
        assert svc.window.remaining_s() > 600
        await page.fill("#acc-household", "张秀英 3 号楼 201")
        await page.fill("#acc-installer", "王师傅")
        await page.click("#acc-info-save")
        await expect(page.locator("#flash")).to_contain_text("已保存")
        allowed |= {"SN-VV-0042"}  # what the technician typed is theirs to show
        await page.fill("#chk-voice_video input[name=note]", "SN-VV-0042")
        await page.click("#chk-voice_video form.manual button")
        await expect(page.locator("#chk-voice_video")).to_have_class("ok", timeout=T)
        svc.window.open(100, by="platform")
        await page.reload()
        await expect(page.locator("#window-warn")).to_have_class("banner urgent")
        svc.close_install_window()
        await expect(page.locator("#window-signin")).to_be_visible(timeout=T)
        await expect(page.locator("#window-text")).to_contain_text("已保存")
        await step(page, "window-closed", "zh", allowed)
        svc.open_install_window()
        await page.click("#window-signin")
        await expect(page.locator("#login-kept")).to_be_visible()
        await page.fill("#code", code_of(gw))
        await page.click("#login-submit")
        await page.click("nav.tabs a[href='/acceptance']")
        await expect(page.locator("#chk-voice_video")).to_have_class("ok")  # the confirmation survived
        await expect(page.locator("#acc-household")).to_have_value("张秀英 3 号楼 201")
        await expect(page.locator("#acc-devices li[data-id=zb-00124b0001a2b3c4]")).to_have_class("ok")

        # --- acceptance: a failing result needs a second tap; green once everything is tested
        await page.click("#acc-submit")
        await expect(page.locator("#acc-confirm")).to_be_visible()
        await expect(page.locator("#acc-confirm-text")).to_contain_text("紧急呼叫按钮")
        await step(page, "acceptance-confirm", "zh", allowed)
        await page.click("#acc-cancel")
        await expect(page.locator("#acc-confirm")).to_be_hidden()
        await asyncio.sleep(0.3)
        await press_everything(gw)
        await zigbee.press("zb-00124b0009f8e7d6")
        await expect(page.locator("#verdict")).to_have_class("verdict ok", timeout=T)
        await expect(page.locator("#acc-devices li.bad")).to_have_count(0)
        await page.click("#acc-submit")
        await expect(page.locator("#acc-result")).to_have_attribute("data-delivered", "1", timeout=T)
        await expect(page.locator("#acc-result")).to_contain_text("平台已收到")
        await step(page, "acceptance-passed", "zh", allowed)

        await page.click("nav.tabs a[href='/test']")
        await expect(page.locator("#tested li[data-device=zb-00124b0001a2b3c4]")).to_contain_text("入户门")
        await step(page, "test", "zh", allowed | {"入户门"})
        await page.click("nav.tabs a[href='/acceptance']")

        # --- the report: fits the phone, names devices and rooms, household, installer, evidence
        await page.click("#acc-report")
        await expect(page.locator("#r-result")).to_have_text("验收通过")
        await expect(page.locator("#r-household")).to_have_text("张秀英 3 号楼 201")
        await expect(page.locator("#r-installer")).to_have_text("王师傅")
        await expect(page.locator("table.devices")).to_contain_text("入户门")
        await expect(page.locator("table.devices")).to_contain_text("客厅")
        await expect(page.locator("table.items")).to_contain_text("SN-VV-0042")
        await step(page, "report", "zh", allowed)
        await page.emulate_media(media="print")
        await expect(page.locator("#print")).to_be_hidden()  # the buttons do not print
        await shot(page, "zh-report-print")
        pdf = await page.pdf(format="A4", prefer_css_page_size=True)  # kept next to the screenshots
        assert pdf.startswith(b"%PDF")
        Path(SHOTS_DIR).mkdir(parents=True, exist_ok=True)
        (Path(SHOTS_DIR) / "zh-report-A4.pdf").write_bytes(pdf)


async def test_gaotai_home_in_english(tmp_path: Path, broker: Mosquitto) -> None:
    """English pages: tabs not cut off, errors in English words too; Gaotai: leak and voice/video mandatory,
    motion and door optional (a home without them passes)."""
    async with (
        running_gateway(tmp_path, broker, county="gaotai") as gw,
        chromium() as browser,
        phone_page(browser, "install-en", locale="en-GB") as page,
    ):
        for dev_id in ("pir-1", "door-1"):  # someone lives with the elder: no motion sensor, no door contact
            await gw.registry.remove(dev_id)
        zigbee = attach(gw, FakeZigbee)
        svc = gw.services.web
        await sign_in(page, gw, "en")
        await step(page, "status", "en", set())
        await expect(page.locator("nav.tabs a[href='/acceptance']")).to_have_text("Acceptance")
        for path, name in (("/devices", "devices"), ("/test", "test")):
            await page.click(f"nav.tabs a[href='{path}']")
            await step(page, name, "en", set())

        # pairing in English: the card, the instruction, naming; then the coordinator unplugged
        await page.click("nav.tabs a[href='/add']")
        await page.click("#transports button[data-transport=zigbee]")
        await expect(page.locator(".howto[data-for=zigbee]")).to_contain_text("reset hole")
        await page.click("#pair-start")
        card = page.locator("article.pcard[data-device=zb-00124b0001a2b3c4]")
        await expect(card.locator("li[data-step=enrolled]")).to_have_class("done", timeout=T)
        await card.locator("input.new-name").fill("Front door")
        await card.locator("select.room-select").select_option("hall")
        await card.locator("button.new-save").click()
        await expect(card).to_have_attribute("data-named", "1", timeout=T)
        await step(page, "add", "en", set())
        zigbee.unplugged = True
        await page.click("#pair-start")
        await expect(page.locator("#pair-failed")).to_contain_text("not connected", timeout=T)
        zigbee.unplugged = False
        await zigbee.press("zb-00124b0001a2b3c4")

        # the install window's warning, in English
        svc.window.open(300, by="platform")
        await page.reload()
        await expect(page.locator("#window-text")).to_contain_text("closes in 5 min")
        await expect(page.locator("#window-extend")).to_have_text("Extend the install window")
        await step(page, "window-warning", "en", set())
        await page.click("nav.tabs a[href='/acceptance']")
        await expect(page.locator("#chk-leak")).to_have_class("bad")
        await expect(page.locator("#chk-motion .badge")).to_have_text("optional")
        await page.fill("#acc-installer", "Wang")
        await page.click("#acc-info-save")
        await expect(page.locator("#flash")).to_contain_text("Saved")
        await page.fill("#chk-voice_video input[name=note]", "")
        await page.fill("#chk-voice_video input[name=by]", "")
        await page.fill("#chk-voice_video input[name=note]", "SN-1")
        await page.click("#chk-voice_video form.manual button")  # the name comes from the installer field
        await expect(page.locator("#chk-voice_video")).to_have_class("ok", timeout=T)
        await asyncio.sleep(0.3)
        await press_everything(gw)
        await expect(page.locator("#chk-leak")).to_have_class("ok", timeout=T)
        await expect(page.locator("#chk-motion")).to_have_class("bad")  # optional, missing...
        await expect(page.locator("#verdict")).to_have_class("verdict ok", timeout=T)  # ...and still accepted
        await expect(page.locator("#verdict")).to_have_text("Accepted")
        await step(page, "acceptance", "en", set())
        await page.click("#acc-report")
        await expect(page.locator("#r-result")).to_have_text("Accepted")
        await step(page, "report", "en", set())


async def test_youxi_home_with_a_manual_nursing_bed(tmp_path: Path, broker: Mosquitto) -> None:
    """A manual bed has no sensor: confirmed by hand with a note and a name, the Youxi home passes."""
    async with (
        running_gateway(tmp_path, broker) as gw,
        chromium() as browser,
        phone_page(browser, "youxi-bed") as page,
    ):
        await gw.registry.remove("bed-1")  # no smart mattress in this home
        await sign_in(page, gw)
        await page.click("nav.tabs a[href='/acceptance']")
        await asyncio.sleep(0.3)
        await press_everything(gw)
        await expect(page.locator("#chk-call_buttons")).to_have_class("ok", timeout=T)
        await expect(page.locator("#chk-bed_or_vitals")).to_have_class("bad")
        for key, note in (("voice_video", "SN-VV-7"), ("bed_or_vitals", "手动护理床 A-12")):
            form = page.locator(f"#chk-{key} form.manual")
            await form.locator("input[name=note]").fill(note)
            await form.locator("input[name=by]").fill("李师傅")
            await form.locator("button").click()
            await expect(page.locator(f"#chk-{key}")).to_have_class("ok", timeout=T)
        await expect(page.locator("#chk-bed_or_vitals .evidence")).to_contain_text("李师傅")
        await expect(page.locator("#verdict")).to_have_class("verdict ok", timeout=T)
        await step(page, "youxi-manual-bed", "zh", {gw.id, "SN-VV-7", "A-12"})


async def test_device_page_works_without_script(tmp_path: Path, broker: Mosquitto) -> None:
    """With JavaScript off, renaming and moving a device still saves (a plain form post), and says so."""
    async with (
        running_gateway(tmp_path, broker) as gw,
        chromium() as browser,
        phone_page(browser, "nojs", javascript=False) as page,
    ):
        await sign_in(page, gw)
        await page.goto(base(gw) + "/devices/door-1")
        await page.fill("#dev-name", "入户门磁")
        await page.select_option("#dev-room", "__other")
        await page.fill("#dev-room-other", "Hall")  # an English room name is still the hall
        await page.click("#dev-save")
        await expect(page.locator("p.flash")).to_contain_text("已保存")
        dev = gw.registry.get("door-1")
        assert dev.name == "入户门磁" and dev.room == "hall"
        await page.check("#dev-remove-confirm")
        await page.click("#dev-remove")
        await expect(page).to_have_url(base(gw) + "/devices")
        assert gw.registry.get("door-1") is None
