"""Add a wired call button through the page: the GPIO driver on pipe-backed lines, Chromium on top.

The technician picks GPIO, sees the spare terminals by chip and line (no signal strength, no bindkey field),
picks one, names it and gives its room; its press then shows up live in test mode and ticks it off.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.drivers.gpio.conftest import CHIP
from tests.drivers.gpio.fakes import FakeLines
from tests.support.broker import Mosquitto
from tests.web.a11y import check_page
from tests.web.browser import chromium, phone_page, shot
from tests.web.conftest import GPIO_SPARE, gpio_gateway
from tests.web.test_browser import T, base, sign_in

pytestmark = pytest.mark.timeout(120)


async def test_add_a_wired_button_by_its_line(tmp_path: Path, broker: Mosquitto, gpio_lines: FakeLines) -> None:
    async with gpio_gateway(tmp_path, broker) as gw, chromium() as browser, phone_page(browser, "gpio") as page:
        await sign_in(page, gw)
        await page.goto(base(gw) + "/add")
        await page.click("#transports button[data-transport=gpio]")
        await expect(page.locator("#adopt-form")).to_be_visible()
        await expect(page.locator("#adopt-bindkey")).to_be_hidden()  # a wired input has no key
        await page.click("#pair-start")
        await expect(page.locator("#candidates li")).to_have_count(2, timeout=T)
        spare = page.locator(f'#candidates li[data-address="{GPIO_SPARE}"]')
        await expect(spare.locator(".badge")).to_have_text("线路 5")  # the line, not the chip's device path
        await shot(page, "add-gpio")
        await check_page(page, "zh", {gw.id})
        await spare.click()
        await expect(page.locator("#adopt-address")).to_have_value(GPIO_SPARE)
        await expect(page.locator("#adopt-type")).to_have_value("call_button")
        await page.fill("#adopt-name", "床头按钮")
        await page.select_option("#adopt-room", "bedroom")
        await page.click("#adopt-submit")
        await expect(page.locator("article.pcard[data-device=gpio-spare]")).to_be_visible(timeout=T)
        await expect(page.locator(f'#candidates li[data-address="{GPIO_SPARE}"]')).to_have_count(0)
        await expect(page.locator("#candidates li")).to_have_count(1)
        dev = gw.registry.get("gpio-spare")
        assert dev is not None and (dev.name, dev.room, dev.type) == ("床头按钮", "bedroom", "call_button")

        await page.click("nav.tabs a[href='/test']")
        await expect(page.locator("h1")).to_have_text("测试模式")
        await asyncio.sleep(0.3)  # the page's live stream connects
        gpio_lines.lines[(CHIP, "5")].edge(True)  # pressed
        press = page.locator('#events li[data-device=gpio-spare][data-kind="alarm.emergency_call"]')
        await expect(press).to_have_count(1, timeout=T)
        await expect(page.locator("#tested li[data-device=gpio-spare]")).to_contain_text("床头按钮")
