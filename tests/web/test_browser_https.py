"""Real headless Chromium signs in over HTTPS (the box's self-signed certificate, accepted as a technician would
after comparing its fingerprint with the label) and sees the status page, the install Wi-Fi card included."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from gateway.app import Gateway
from tests.support.broker import Mosquitto
from tests.support.gateway import make_config
from tests.web.browser import PHONE, chromium
from tests.web.conftest import FAST_WEB, code_of

pytestmark = pytest.mark.timeout(120)

T = 10_000  # ms


async def test_sign_in_over_https_in_chromium(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = make_config(tmp_path / "state", broker.url, web=FAST_WEB, http={"https_listen": "127.0.0.1:0"})
    async with Gateway(cfg) as gw, chromium() as browser:
        assert gw.services is not None
        base = f"https://127.0.0.1:{gw.services.http.https_port}"
        context = await browser.new_context(viewport=PHONE, locale="en-GB", ignore_https_errors=True)
        try:
            page = await context.new_page()
            await page.goto(base + "/")
            await expect(page).to_have_url(base + "/login", timeout=T)
            await page.fill("#code", code_of(gw))
            await page.click("#login-submit")
            await expect(page).to_have_url(base + "/", timeout=T)
            await expect(page.locator("#st-gateway")).to_have_text(gw.id, timeout=T)
            await expect(page.locator("#st-hotspot")).to_have_text("未启用", timeout=T)  # default language zh
            cookies = {c["name"]: c for c in await context.cookies(base)}
            assert cookies["fbgw_session"]["secure"] and cookies["fbgw_session"]["httpOnly"]
        finally:
            await context.close()
