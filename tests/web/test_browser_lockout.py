"""Issue item: anyone on the Wi-Fi could lock the technician out. In real Chromium: phones on other addresses
spray wrong codes past the per-client limit and the total ceiling; the technician's phone, which never failed,
still signs in with the right code, and a phone that did fail too often is told in Chinese how long to wait."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from tests.support.broker import Mosquitto
from tests.web.a11y import check_page
from tests.web.browser import chromium, phone_page, shot
from tests.web.conftest import code_of, running_gateway

pytestmark = pytest.mark.timeout(180)


@contextlib.asynccontextmanager
async def phone_at(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client whose requests come from ``address`` (any 127.x.y.z is this machine's loopback)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def wrong_codes(session: aiohttp.ClientSession, base: str, count: int) -> list[int]:
    async with session.get(base + "/login") as resp:
        m = re.search(r'name="_csrf" value="([^"]+)"', await resp.text())
        assert m, "no sign-in form"
    statuses = []
    for i in range(count):
        async with session.post(base + "/login", data={"_csrf": m.group(1), "code": f"{i:08d}"}) as resp:
            statuses.append(resp.status)
    return statuses


async def test_wrong_codes_from_other_phones_never_lock_the_technician_out(tmp_path: Path, broker: Mosquitto) -> None:
    async with running_gateway(tmp_path, broker, login_max_failures_total=6) as gw, chromium() as browser:
        base = f"http://127.0.0.1:{gw.web.port}"
        seen: list[int] = []
        for i in range(2, 8):  # six neighbours, five wrong codes each: 30 tries against a ceiling of 6
            async with phone_at(f"127.0.0.{i}") as neighbour:
                seen += await wrong_codes(neighbour, base, 5)
        assert seen.count(401) <= 6 + 6, seen  # the ceiling, plus one try for each address that never failed
        assert seen.count(429) >= 18, seen
        async with phone_at("127.0.0.2") as neighbour:  # a neighbour that failed waits, even with the right code
            async with neighbour.get(base + "/login") as resp:
                token = re.search(r'name="_csrf" value="([^"]+)"', await resp.text())
            assert token
            async with neighbour.post(base + "/login", data={"_csrf": token.group(1), "code": code_of(gw)}) as resp:
                assert resp.status == 429

        async with phone_page(browser, "lockout-technician") as page:  # from 127.0.0.1: never failed
            await page.goto(base + "/login")
            await page.fill("#code", code_of(gw))
            await page.click("#login-submit")
            await expect(page).to_have_url(base + "/")
            await shot(page, "zh-lockout-technician-signed-in")

        async with phone_page(browser, "lockout-own-failures") as page:
            await page.context.clear_cookies()
            for _ in range(3):  # the test setting's per-client limit
                await page.goto(base + "/login")
                await page.fill("#code", "00000000")
                await page.click("#login-submit")
                await page.wait_for_load_state()
            await page.goto(base + "/login")
            await page.fill("#code", code_of(gw))
            await page.click("#login-submit")
            message = page.get_by_text(re.compile(r"尝试次数过多，请 \d+ 秒后再试"))
            await expect(message).to_be_visible()
            await shot(page, "zh-lockout-own-failures")
            await check_page(page, "zh", {gw.id})
