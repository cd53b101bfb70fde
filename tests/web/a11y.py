"""Checks every page of the technician's page must pass on a phone: axe-core (no serious or critical
violations), touch targets of at least 44 x 44 CSS px, and — in Chinese — no English word or raw code.

axe-core comes from the npm registry, pinned in ``tests/web/axe/package-lock.json`` and installed by
``scripts/setup``; it is injected into the page from disk (never fetched at test time).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page

AXE_JS = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
MIN_TARGET_PX = 44
#: ASCII words a Chinese page may show: radio names and units a technician reads on the devices themselves, and
#: the language switch, which names the other language in that language.
ALLOWED_WORDS = frozenset({"Zigbee", "BLE", "USB", "GB", "MB", "dBm", "LQI", "ms", "English"})
_WORD = re.compile(r"[A-Za-z][A-Za-z_.\-]*[A-Za-z]")


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page as it is now."""
    assert AXE_JS.exists(), f"{AXE_JS} missing: run ./scripts/setup (npm ci in tests/web/axe)"
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE_JS))
    result = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return list(result)


async def small_targets(page: Page) -> list[str]:
    """Visible controls smaller than 44 x 44 CSS px (a checkbox counts by its label)."""
    found = await page.evaluate(
        """(min) => {
          const sel = 'a, button, input:not([type=hidden]):not([type=checkbox]), select, summary, [role=button], '
            + 'label.check';
          const out = [];
          for (const n of document.querySelectorAll(sel)) {
            const r = n.getBoundingClientRect();
            if (!r.width || !r.height || getComputedStyle(n).visibility === 'hidden') continue;
            if (Math.round(r.width) < min || Math.round(r.height) < min) {
              out.push(`${n.tagName.toLowerCase()}#${n.id || ''}.${n.className || ''} "${(n.textContent || '').trim()
                .slice(0, 20)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
            }
          }
          return out;
        }""",
        MIN_TARGET_PX,
    )
    return list(found)


async def overflowing(page: Page) -> list[str]:
    """Elements wider than the viewport, or nav tabs whose text is cut off."""
    found = await page.evaluate(
        """() => {
          const out = [];
          if (document.documentElement.scrollWidth > window.innerWidth + 1) {
            out.push(`page ${document.documentElement.scrollWidth}px wide`);
          }
          for (const a of document.querySelectorAll('nav.tabs a')) {
            if (a.scrollWidth > a.clientWidth + 1) out.push(`tab "${a.textContent}" cut off`);
            const r = a.getBoundingClientRect();
            if (r.right > window.innerWidth + 1) out.push(`tab "${a.textContent}" off screen`);
          }
          return out;
        }"""
    )
    return list(found)


async def visible_words(page: Page) -> str:
    """Everything a person sees or hears on the page: text, placeholders, labels, titles, alt texts, values."""
    text: str = await page.evaluate(
        """() => {
          const parts = [document.title, document.body.innerText];
          for (const n of document.querySelectorAll('[placeholder], [aria-label], [title], [alt]')) {
            for (const a of ['placeholder', 'aria-label', 'title', 'alt']) {
              if (n.getAttribute(a)) parts.push(n.getAttribute(a));
            }
          }
          for (const n of document.querySelectorAll('input[type=submit], input[type=button]')) parts.push(n.value);
          for (const n of document.querySelectorAll('option')) parts.push(n.textContent);
          return parts.join('\\n');
        }"""
    )
    return text


async def english_in_chinese_page(page: Page, allowed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """ASCII words (English, raw ids, event codes) on a Chinese page, except radio names, units and ``allowed``
    (values the technician typed, the gateway's own id printed on its label)."""
    text = await visible_words(page)
    for value in allowed:
        text = text.replace(value, " ")
    return sorted({w for w in _WORD.findall(text) if w not in ALLOWED_WORDS})


async def check_page(page: Page, lang: str, allowed: set[str] | frozenset[str] = frozenset()) -> None:
    """Every check at once, with a message naming what failed."""
    problems: dict[str, Any] = {}
    if v := await axe_violations(page):
        problems["axe"] = v
    if small := await small_targets(page):
        problems["touch targets < 44 px"] = small
    if wide := await overflowing(page):
        problems["overflow"] = wide
    if lang == "zh" and (words := await english_in_chinese_page(page, allowed)):
        problems["English or raw codes"] = words
    assert not problems, f"{page.url}: {problems}"
