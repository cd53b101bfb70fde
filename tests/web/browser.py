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
#: Screenshots of every step a test names with :func:`shot` are kept here (test artefacts; FBGW_SHOTS overrides).
SHOTS_DIR = os.environ.get("FBGW_SHOTS") or str(Path(__file__).resolve().parents[2] / "build" / "web-shots")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def phone_page(
    browser: Browser, name: str, locale: str = "zh-CN", javascript: bool = True
) -> AsyncIterator[Page]:
    """A phone-sized page; on any failure inside the block, a screenshot is saved and its path printed.

    ``bypass_csp`` lets the accessibility check inject axe-core; the page's own scripts are unaffected."""
    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=1, locale=locale, bypass_csp=True, java_script_enabled=javascript
    )
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
