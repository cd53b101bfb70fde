"""Real headless Chromium (Debian's) driven by Playwright, for the page tests. Never downloads a browser."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = os.environ.get("FBGW_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
#: Set FBGW_SHOTS=<dir> to keep a screenshot of every page a test names with :func:`shot`.
SHOTS_DIR = os.environ.get("FBGW_SHOTS")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def phone_page(browser: Browser, name: str) -> AsyncIterator[Page]:
    """A phone-sized page; on any failure inside the block, a screenshot is saved and its path printed."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=1, locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
        assert not errors, f"script errors on the page: {errors}"
    except BaseException:
        out = Path(tempfile.mkdtemp(prefix="fbgw-web-fail-")) / f"{name}.png"
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(out), full_page=True)
            print(f"\nscreenshot of the failing page: {out}\n")
        raise
    finally:
        await context.close()


async def shot(page: Page, name: str) -> None:
    if SHOTS_DIR:
        os.makedirs(SHOTS_DIR, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS_DIR) / f"{name}.png"), full_page=True)
