"""The technician's pages: sign-in, status, devices by room, add a device, test mode, acceptance, report.

Server-rendered HTML (phone-first); the live parts are filled in by ``static/app.js`` from the JSON API.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from core.vocabulary import DEVICE_TYPES
from drivers.base import Driver
from gateway.web.auth import LANG_COOKIE, PRELOGIN_COOKIE, SESSION_COOKIE, new_token, tokens_match
from gateway.web.guard import session_of
from gateway.web.i18n import LANGS, ROOM_NAMES, ROOMS, room_name, translate
from gateway.web.render import esc, fill, page
from gateway.web.service import TechnicianService

if TYPE_CHECKING:
    from gateway.context import ServiceContext

#: Types offered when adding by address; beyond the drivers' vocabulary, the county lists name these.
ADD_TYPES = (*DEVICE_TYPES, "voice_video", "nursing_bed")
FULL = "%Y-%m-%d %H:%M:%S"
TRANSPORT_NAMES = {"zigbee": "Zigbee", "ble": "BLE 蓝牙", "gpio": "GPIO", "sim": "Sim"}
#: Transports whose devices may need a key when added (the add form shows the bindkey field only for these).
KEYED_TRANSPORTS = frozenset({"ble"})


def lang_of(request: web.Request, svc: TechnicianService) -> str:
    lang = request.cookies.get(LANG_COOKIE, "")
    return lang if lang in LANGS else svc.settings.default_lang


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def can_adopt(driver: Driver) -> bool:
    return type(driver).adopt is not Driver.adopt


def fmt_time(ctx: ServiceContext, ts: float | None, lang: str, fmt: str = "%m-%d %H:%M:%S") -> str:
    if not ts:
        return translate(lang, "devices.never")
    try:
        tz: Any = ZoneInfo(ctx.config().gateway.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = None
    return datetime.fromtimestamp(ts, tz).strftime(fmt)


def fmt_age(seconds: object, lang: str) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    if seconds < 120:
        return f"{int(seconds)} {translate(lang, 'seconds')}"
    return f"{int(seconds // 60)} {translate(lang, 'minutes')}"


def type_name(lang: str, kind: str) -> str:
    word = translate(lang, f"type.{kind}")
    return kind if word == f"type.{kind}" else word


def room_options(lang: str) -> str:
    return "".join(f'<option value="{esc(r)}">{esc(ROOM_NAMES[lang].get(r, r))}</option>' for r in ROOMS)


class Views:
    def __init__(self, ctx: ServiceContext, svc: TechnicianService) -> None:
        self.ctx = ctx
        self.svc = svc

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/login", self.login_page)
        r.add_post("/login", self.login)
        r.add_post("/logout", self.logout)
        r.add_get("/lang", self.switch_lang)
        r.add_get("/favicon.ico", self.no_icon)
        r.add_get("/", self.status_page)
        r.add_get("/devices", self.devices_page)
        r.add_get("/add", self.add_page)
        r.add_get("/test", self.test_page)
        r.add_get("/acceptance", self.acceptance_page)
        r.add_get("/acceptance/report", self.report_page)

    # ------------------------------------------------------------------ sign-in

    def _login_response(
        self, request: web.Request, lang: str, error_key: str = "", status: int = 200, **values: object
    ) -> web.Response:
        if wants_json(request):
            message = translate("en", error_key, **values) if error_key else "ok"
            return web.json_response({"error": message}, status=status)
        token = request.cookies.get(PRELOGIN_COOKIE) or new_token()
        w = self.svc.window
        window_text = (
            translate(lang, "login.open", m=max(1, w.remaining_s() // 60))
            if w.is_open
            else translate(lang, "login.closed")
        )
        error = (
            f'<p class="error" id="login-error">{esc(translate(lang, error_key, **values))}</p>' if error_key else ""
        )
        body = fill(
            "login",
            lang,
            gateway=self.ctx.gateway_id,
            window_class="ok" if w.is_open else "warn",
            window_text=window_text,
            error=error,
            prelogin=token,
        )
        resp = page(request, lang, "login", translate(lang, "login.title"), body, nav=False, status=status)
        resp.set_cookie(PRELOGIN_COOKIE, token, httponly=True, samesite="Strict", path="/login", max_age=3600)
        return resp

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        if self.svc.window.is_open and self.svc.sessions.get(request.cookies.get(SESSION_COOKIE)):
            raise web.HTTPSeeOther("/")
        return self._login_response(request, lang)

    async def login(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        peer = request.remote or "?"
        try:
            form = await request.post()
        except ValueError:
            return self._login_response(request, lang, "login.bad_form", 400)
        field = form.get("_csrf")
        if not isinstance(field, str) or not tokens_match(field, request.cookies.get(PRELOGIN_COOKIE)):
            return self._login_response(request, lang, "login.bad_form", 403)
        if not self.svc.window.is_open:
            return self._login_response(request, lang, "login.closed", 403)
        code = form.get("code")
        if not isinstance(code, str) or not code.strip() or len(code) > 64:
            return self._login_response(request, lang, "login.bad_code", 400)
        wait = self.svc.limiter.retry_after(peer)
        if wait > 0:
            limited = self._login_response(request, lang, "login.too_many", 429, s=int(wait) + 1)
            limited.headers["Retry-After"] = str(int(wait) + 1)
            return limited
        # Counted before the slow check is awaited: parallel attempts see each other (no await in between).
        attempt = self.svc.limiter.begin(peer)
        if not await self.svc.check_code(code.strip()):
            return self._login_response(request, lang, "login.bad_code", 401)
        self.svc.limiter.succeeded(peer, attempt)
        session = self.svc.sessions.create(peer)
        resp: web.Response
        if wants_json(request):
            resp = web.json_response({"ok": True, "csrf": session.csrf})
        else:
            resp = web.HTTPSeeOther("/")
        resp.set_cookie(
            SESSION_COOKIE,
            session.token,
            httponly=True,
            samesite="Strict",
            path="/",
            max_age=int(self.svc.settings.session_lifetime_s),
        )
        resp.del_cookie(PRELOGIN_COOKIE, path="/login")
        if isinstance(resp, web.HTTPException):
            raise resp
        return resp

    async def logout(self, request: web.Request) -> web.StreamResponse:
        self.svc.sessions.end(session_of(request).token)
        resp = web.HTTPSeeOther("/login")
        resp.del_cookie(SESSION_COOKIE, path="/")
        raise resp

    async def no_icon(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def switch_lang(self, request: web.Request) -> web.StreamResponse:
        to = request.query.get("to", "")
        if to not in LANGS:
            return web.json_response({"error": f"language must be one of {', '.join(LANGS)}"}, status=400)
        nxt = request.query.get("next", "/")
        if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt or len(nxt) > 512:
            nxt = "/"
        resp = web.HTTPSeeOther(nxt)
        resp.set_cookie(LANG_COOKIE, to, samesite="Strict", path="/", max_age=365 * 24 * 3600)
        raise resp

    # ------------------------------------------------------------------ pages

    def _page(self, request: web.Request, page_id: str, title_key: str, body: str) -> web.Response:
        lang = lang_of(request, self.svc)
        return page(request, lang, page_id, translate(lang, title_key), body, csrf=session_of(request).csrf)

    async def status_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        st = await overview(self.ctx, self.svc)
        up = st["uplink"]["state"]
        radios = "".join(
            f'<li class="{"ok" if d["state"] == "up" else "bad"}"><b>{esc(d["transport"])}</b> '
            f"{esc(translate(lang, 'state.' + d['state']))} "
            f'<span class="muted">{esc(d["detail"])}</span></li>'
            for d in st["drivers"]
        )
        disk = st["disk"]
        body = fill(
            "status",
            lang,
            gateway=st["gateway"],
            uplink=translate(lang, f"state.{up}"),
            uplink_class="ok" if up == "online" else "bad",
            broker=st["uplink"]["broker"],
            outbox=st["outbox"]["rows"],
            outbox_age=fmt_age(st["outbox"]["oldest_age_s"], lang),
            clock=translate(lang, "yes" if st["clock"]["synced"] else "no"),
            clock_class="ok" if st["clock"]["synced"] else "warn",
            disk=f"{disk['free_mb']} MB {translate(lang, 'free')} ({disk['used_pct']}%)" if disk else "—",
            devices=st["devices"],
            window=fmt_age(st["window"]["remaining_s"], lang),
            radios=radios,
        )
        return self._page(request, "status", "nav.status", body)

    async def devices_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        rooms: dict[str, list[str]] = {}
        for dev in sorted(self.ctx.registry, key=lambda d: (d.room, d.name or d.id)):
            seen = self.ctx.intake.seen.get(dev.id)
            values = seen.values if seen else {}
            meta = seen.meta if seen else {}
            battery = values.get("battery", meta.get("battery"))
            signal = meta.get("rssi", meta.get("lqi"))
            rooms.setdefault(dev.room, []).append(
                fill(
                    "device",
                    lang,
                    id=dev.id,
                    name=dev.name or dev.id,
                    type=type_name(lang, dev.type),
                    transport=dev.transport,
                    room=dev.room,
                    battery=f"{battery}%" if isinstance(battery, int | float) else "—",
                    signal=f"{signal} dBm" if "rssi" in meta else (signal if signal is not None else "—"),
                    last_seen=fmt_time(self.ctx, seen.last_seen if seen else None, lang),
                )
            )
        html = (
            "".join(
                f'<section class="room" data-room="{esc(room)}"><h2>{esc(room_name(lang, room))}</h2>'
                f"{''.join(cards)}</section>"
                for room, cards in rooms.items()
            )
            or f'<p class="muted">{esc(translate(lang, "devices.none"))}</p>'
        )
        body = fill("devices", lang, rooms=html, room_options=room_options(lang))
        return self._page(request, "devices", "devices.title", body)

    async def add_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        transports = (
            "".join(
                f'<button type="button" class="choice" data-transport="{esc(name)}" '
                f'data-adopt="{1 if can_adopt(drv) else 0}" data-keyed="{1 if name in KEYED_TRANSPORTS else 0}">'
                f"{esc(TRANSPORT_NAMES.get(name, name))}</button>"
                for name, drv in self.ctx.drivers.items()
            )
            or f'<p class="muted">{esc(translate(lang, "add.no_transports"))}</p>'
        )
        types = "".join(f'<option value="{esc(t)}">{esc(type_name(lang, t))}</option>' for t in ADD_TYPES)
        body = fill(
            "add",
            lang,
            transports=transports,
            type_options=types,
            room_options=room_options(lang),
            seconds=self.svc.settings.pairing_s,
        )
        return self._page(request, "add", "add.title", body)

    async def test_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        items = []
        for dev_id, rec in self.svc.tests.tested.items():
            dev = self.ctx.registry.get(dev_id)
            name = (dev.name or dev.id) if dev else dev_id
            items.append(
                f'<li class="ok" data-device="{esc(dev_id)}"><b>{esc(name)}</b> {esc(rec.kind)} '
                f'<span class="muted">{rec.to_outbox_ms} ms / {esc(rec.to_broker_ms)} ms</span></li>'
            )
        body = fill("test", lang, tested="".join(items))
        return self._page(request, "test", "test.title", body)

    async def acceptance_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        chk = self.svc.checklist(lang)
        if chk is None:
            body = f'<p class="error">{esc(translate(lang, "acc.no_profile"))}{esc(self.svc.profile_error)}</p>'
            return self._page(request, "acceptance", "acc.title", body)
        items = "".join(
            f'<li class="{"ok" if i["ok"] else "bad"}" id="chk-{esc(i["key"])}">{esc(i["label"])} '
            f'<span class="muted">({i["have"]}/{i["need"]})</span>'
            + (fill("manual", lang, key=i["key"], note=i["note"]) if i["manual"] else "")
            + "</li>"
            for i in chk["items"]
        )
        devices = "".join(
            f'<li class="{"ok" if d["tested"] else "bad"}">{esc(d["name"])} <span class="muted">'
            f"{esc(room_name(lang, d['room']))} · {esc(type_name(lang, d['type']))}</span></li>"
            for d in chk["devices"]
        )
        body = fill(
            "acceptance",
            lang,
            county=chk["county"]["name"],
            items=items,
            devices=devices,
            verdict=translate(lang, "acc.passed" if chk["passed"] else "acc.failed"),
            verdict_class="ok" if chk["passed"] else "bad",
            devices_class="ok" if chk["all_tested"] else "bad",
            uplink_class="ok" if chk["uplink"]["ok"] else "bad",
        )
        return self._page(request, "acceptance", "acc.title", body)

    async def report_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        chk = self.svc.checklist(lang)
        if chk is None:
            return web.json_response({"error": self.svc.profile_error}, status=409)
        yes, no = translate(lang, "yes"), translate(lang, "no")
        items = "".join(
            f'<tr class="{"ok" if i["ok"] else "bad"}"><td>{"✔" if i["ok"] else "✘"}</td>'
            f"<td>{esc(i['label'])}</td>"
            f"<td>{i['have']}/{i['need']}</td><td>{esc(', '.join(i['devices']))}"
            + (f" ({esc(translate(lang, 'report.manual'))}: {esc(i['note'])})" if i["note"] else "")
            + "</td></tr>"
            for i in chk["items"]
        )
        devices = "".join(
            f"<tr><td>{esc(d['name'])}<br><small>{esc(d['id'])}</small></td>"
            f"<td>{esc(room_name(lang, d['room']))}</td>"
            f"<td>{esc(type_name(lang, d['type']))}</td><td>{esc(d['transport'])}</td>"
            f"<td>{'✔ ' + esc(d['kind']) if d['tested'] else '✘'}</td></tr>"
            for d in chk["devices"]
        )
        body = fill(
            "report",
            lang,
            lang=lang,
            gateway=self.ctx.gateway_id,
            county=chk["county"]["name"],
            date=fmt_time(self.ctx, time.time(), lang, FULL),
            window_opened=fmt_time(self.ctx, self.svc.window.opened_at, lang, FULL),
            verdict=translate(lang, "acc.passed" if chk["passed"] else "acc.failed"),
            verdict_class="ok" if chk["passed"] else "bad",
            items=items,
            devices=devices,
            all_tested=yes if chk["all_tested"] else no,
            uplink=yes if chk["uplink"]["ok"] else no,
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8")


async def overview(ctx: ServiceContext, svc: TechnicianService) -> dict[str, Any]:
    """Status for the page: the core's status plus disk space and the install window."""
    st = ctx.status()
    try:
        usage = await asyncio.to_thread(shutil.disk_usage, ctx.state_dir)
        st["disk"] = {
            "free_mb": usage.free // 2**20,
            "total_mb": usage.total // 2**20,
            "used_pct": round(100 * usage.used / usage.total) if usage.total else 0,
        }
    except OSError:
        st["disk"] = None
    st["window"] = {
        "open": svc.window.is_open,
        "remaining_s": svc.window.remaining_s(),
        "extendable_s": svc.window.extendable_s(),
        "opened_by": svc.window.opened_by,
    }
    return st
