"""Server-side HTML: small templates in ``templates/`` filled from a language table and escaped values.

Placeholders: ``{{t:key}}`` a translated word, ``{{v:name}}`` an escaped value, ``{{h:name}}`` ready-made HTML
(built here with :func:`esc`). No template engine: the pages are few and simple, and nothing a browser sends
is ever put in a page unescaped.
"""

from __future__ import annotations

import functools
import html
import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.web.i18n import js_messages, translate

TEMPLATES = Path(__file__).parent / "templates"
_PLACEHOLDER = re.compile(r"\{\{([tvh]):([A-Za-z0-9_.]+)\}\}")

NAV = (
    ("status", "/"),
    ("devices", "/devices"),
    ("add", "/add"),
    ("test", "/test"),
    ("acceptance", "/acceptance"),
)


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


@functools.cache
def template(name: str) -> str:
    return (TEMPLATES / f"{name}.html").read_text(encoding="utf-8")


def fill(name: str, lang: str, /, **values: Any) -> str:
    def sub(m: re.Match[str]) -> str:
        kind, key = m.group(1), m.group(2)
        if kind == "t":
            return esc(translate(lang, key))
        if key not in values:
            raise KeyError(f"template {name}: no value for {key}")
        return esc(values[key]) if kind == "v" else str(values[key])

    return _PLACEHOLDER.sub(sub, template(name))


def page(
    request: web.Request,
    lang: str,
    page_id: str,
    title: str,
    body: str,
    *,
    csrf: str = "",
    nav: bool = True,
    status: int = 200,
    window: tuple[int, int, int] = (0, 0, 0),
) -> web.Response:
    """A full page in the common layout (phone-first; nav bar when signed in). ``window``: the install window's
    seconds left, the most it may still be extended to, and how long an extension asks for (for the warnings)."""
    nav_html = ""
    if nav:
        links = "".join(
            f'<a href="{href}"'
            + (' class="on" aria-current="page"' if key == page_id else "")
            + f">{esc(translate(lang, 'nav.' + key))}</a>"
            for key, href in NAV
        )
        nav_html = f'<nav class="tabs" aria-label="{esc(translate(lang, "nav.label"))}">{links}</nav>'
    other = "en" if lang == "zh" else "zh"
    text = fill(
        "layout",
        lang,
        lang=lang,
        title=title,
        page=page_id,
        csrf=csrf,
        nav=nav_html,
        body=body,
        version=__version__,
        other_lang=other,
        path=request.path_qs if request.path_qs.startswith("/") else "/",
        messages=esc(json.dumps(js_messages(lang), ensure_ascii=False)),
        logout=fill("logout", lang, csrf=csrf) if csrf else "",
        window_s=window[0],
        window_ext=window[1],
        window_ask=window[2],
    )
    return web.Response(text=text, content_type="text/html", charset="utf-8", status=status)
