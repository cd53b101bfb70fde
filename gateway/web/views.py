"""The technician's pages: sign-in, status, devices by room, add a device, test mode, acceptance, report.

Server-rendered HTML (phone-first); the live parts are filled in by ``static/app.js`` from the JSON API.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from core.devices import Device
from core.vocabulary import DEVICE_TYPES
from drivers.base import Driver
from gateway.web.auth import LANG_COOKIE, PRELOGIN_COOKIE, SESSION_COOKIE, new_token, tokens_match
from gateway.web.body import read_form
from gateway.web.guard import session_of
from gateway.web.i18n import (
    LANGS,
    ROOMS,
    device_label,
    has,
    kind_name,
    reason_key,
    room_key,
    room_name,
    signal_band,
    translate,
    transport_name,
    type_name,
)
from gateway.web.render import esc, fill, page
from gateway.web.service import TechnicianService

if TYPE_CHECKING:
    from gateway.context import ServiceContext

log = logging.getLogger(__name__)

#: Types offered when adding by address; beyond the drivers' vocabulary, the county lists name these.
ADD_TYPES = (*DEVICE_TYPES, "voice_video", "nursing_bed")
FULL = "%Y-%m-%d %H:%M:%S"
OTHER_ROOM = "__other"
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


def fmt_size(mb: int) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb} MB"


#: The device parameter that makes a generic remote's press a call (only remotes have it; see the Zigbee driver).
PRESS_IS_CALL = "press_is_call"


def press_call_box(lang: str, params: Mapping[str, Any]) -> str:
    """The "a press is a call" checkbox, for a device whose presses are calls only where the technician says so."""
    if PRESS_IS_CALL not in params:
        return ""
    checked = " checked" if params[PRESS_IS_CALL] is True else ""
    return (
        '<input type="hidden" name="press_is_call_shown" value="1">'
        f'<label class="check"><input type="checkbox" name="{PRESS_IS_CALL}" value="1" id="dev-press-call"'
        f' aria-describedby="dev-press-call-hint"{checked}> {esc(translate(lang, "devices.press_is_call"))}</label>'
        f'<p class="muted small" id="dev-press-call-hint">{esc(translate(lang, "devices.press_is_call_hint"))}</p>'
    )


def room_select(lang: str, current: str, known: set[str], name: str = "room", ident: str = "") -> str:
    """A room picker: the listed rooms in the page's language, rooms already used here, and "other" with a
    text field (shown by the script when chosen; always there without script)."""
    cur = room_key(current) if current else ""
    keys = [*ROOMS, *sorted(k for k in {room_key(r) for r in known if r} if k not in ROOMS)]
    opts = [f'<option value=""{" selected" if not cur else ""}>{esc(translate(lang, "room.none"))}</option>']
    opts += [
        f'<option value="{esc(k)}"{" selected" if k == cur else ""}>{esc(room_name(lang, k))}</option>' for k in keys
    ]
    opts.append(f'<option value="{OTHER_ROOM}">{esc(translate(lang, "room.other"))}</option>')
    sid = f' id="{esc(ident)}"' if ident else ""
    oid = f' id="{esc(ident)}-other"' if ident else ""
    return (
        f'<label>{esc(translate(lang, "devices.room"))} <select name="{esc(name)}" class="room-select"{sid}>'
        f"{''.join(opts)}</select></label>"
        f'<label class="other-room">{esc(translate(lang, "devices.custom_room"))} '
        f'<input name="{esc(name)}_other" maxlength="32"{oid}></label>'
    )


def chosen_room(form: Any, name: str = "room") -> str | None:
    """The room a no-script form chose (None: field absent)."""
    room = form.get(name)
    if not isinstance(room, str):
        return None
    if room == OTHER_ROOM:  # "other" with nothing typed changes nothing
        other = form.get(f"{name}_other")
        return room_key(other) if isinstance(other, str) and other.strip() else None
    return room_key(room)


def tested_mark(lang: str, ok: bool) -> str:
    return f"✔ {translate(lang, 'acc.tested')}" if ok else f"✘ {translate(lang, 'acc.untested')}"


def signal_text(lang: str, meta: dict[str, Any]) -> str:
    band = signal_band(meta)
    if band is None:
        return "—"
    return f"{translate(lang, 'signal.' + band[0])} ({band[1]})"


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
        r.add_get("/devices/{id}", self.device_page)
        r.add_post("/devices/{id}", self.device_form)
        r.add_post("/devices/{id}/remove", self.remove_form)
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
            f'<p class="error" id="login-error" role="alert">{esc(translate(lang, error_key, **values))}</p>'
            if error_key
            else ""
        )
        body = fill(
            "login",
            lang,
            gateway=self.ctx.gateway_id,
            window_class="ok" if w.is_open else "warn",
            window_text=window_text,
            error=error,
            prelogin=token,
            kept=f'<p class="ok" id="login-kept">{esc(translate(lang, "login.kept"))}</p>'
            if self.svc.record.tests.tested or self.svc.record.manual
            else "",
        )
        resp = page(request, lang, "login", translate(lang, "login.title"), body, nav=False, status=status)
        resp.set_cookie(
            PRELOGIN_COOKIE,
            token,
            httponly=True,
            secure=request.secure,  # over HTTPS, never sent back over plain HTTP
            samesite="Strict",
            path="/login",
            max_age=3600,
        )
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
            secure=request.secure,
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

    def _page(self, request: web.Request, page_id: str, title: str, body: str) -> web.Response:
        lang = lang_of(request, self.svc)
        w = self.svc.window
        return page(
            request,
            lang,
            page_id,
            title,
            body,
            csrf=session_of(request).csrf,
            window=(w.remaining_s(), w.extendable_s(), self.svc.settings.install_window_s),
        )

    def _label(self, lang: str, dev: Device) -> str:
        return device_label(lang, dev.name, dev.id, dev.type, dev.address)

    def _rooms_in_use(self) -> set[str]:
        return {d.room for d in self.ctx.registry if d.room}

    async def status_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        st = await overview(self.ctx, self.svc)
        up = st["uplink"]["state"]
        radios = "".join(
            f'<li class="{"ok" if d["state"] == "up" else "bad"}" data-transport="{esc(d["transport"])}">'
            f'<span class="mark" aria-hidden="true">{"✔" if d["state"] == "up" else "✘"}</span> '
            f"<b>{esc(transport_name(lang, d['transport']))}</b> "
            f"{esc(translate(lang, 'state.' + d['state']))}"
            + (
                f' <span class="muted">{esc(translate(lang, reason_key(str(d["detail"]))))}</span>'
                if d["state"] != "up"
                else ""
            )
            + "</li>"
            for d in st["drivers"]
        )
        disk = st["disk"]
        body = fill(
            "status",
            lang,
            gateway=self.ctx.gateway_id,
            uplink=translate(lang, f"state.{up}"),
            uplink_class="ok" if up == "online" else "bad",
            outbox=st["outbox"]["rows"],
            outbox_age=fmt_age(st["outbox"]["oldest_age_s"], lang),
            clock=translate(lang, "yes" if st["clock"]["synced"] else "no"),
            clock_class="ok" if st["clock"]["synced"] else "warn",
            disk=translate(lang, "status.disk_free", free=fmt_size(disk["free_mb"]), pct=disk["used_pct"])
            if disk
            else "—",
            devices=st["devices"],
            window=fmt_age(st["window"]["remaining_s"], lang),
            radios=radios,
            **hotspot_card(st.get("hotspot"), lang),
        )
        return self._page(request, "status", translate(lang, "nav.status"), body)

    async def devices_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        tested = self.svc.tests.tested
        rooms: dict[str, list[str]] = {}
        untested: list[str] = []
        devs = sorted(self.ctx.registry, key=lambda d: (room_key(d.room), self._label(lang, d)))
        for dev in devs:
            label = self._label(lang, dev)
            ok = dev.id in tested
            seen = self.ctx.intake.seen.get(dev.id)
            words = " ".join((label, room_name(lang, dev.room), type_name(lang, dev.type))).casefold()
            mark = translate(lang, "devices.tested" if ok else "devices.not_tested")
            rooms.setdefault(room_key(dev.room), []).append(
                f'<li class="dev {"ok" if ok else "bad"}" id="dev-{esc(dev.id)}" data-id="{esc(dev.id)}" '
                f'data-search="{esc(words)}"><a class="dev-link" href="/devices/{esc(dev.id)}">'
                f'<b class="name">{esc(label)}</b> <span class="badge">{esc(type_name(lang, dev.type))}</span>'
                f'<span class="spacer"></span><span class="mark {"ok" if ok else "bad"}">'
                f"{'✔' if ok else '✘'} {esc(mark)}</span>"
                f'<span class="muted small seen" data-seen="{esc(dev.id)}">'
                f"{esc(fmt_time(self.ctx, seen.last_seen if seen else None, lang))}</span></a></li>"
            )
            if not ok:
                untested.append(
                    f'<li data-id="{esc(dev.id)}"><a href="/devices/{esc(dev.id)}">{esc(label)} '
                    f'<span class="muted">{esc(room_name(lang, dev.room))}</span></a></li>'
                )
        html = (
            "".join(
                f'<section class="room" data-room="{esc(room)}"><h2>{esc(room_name(lang, room))}</h2>'
                f'<ul class="list devlist">{"".join(cards)}</ul></section>'
                for room, cards in rooms.items()
            )
            or f'<p class="muted">{esc(translate(lang, "devices.none"))}</p>'
        )
        untested_html = (
            f'<ul class="list" id="untested-list">{"".join(untested)}</ul>'
            if untested
            else f'<p class="ok" id="untested-none">✔ {esc(translate(lang, "devices.all_tested"))}</p>'
        )
        body = fill("devices", lang, rooms=html, untested=untested_html)
        return self._page(request, "devices", translate(lang, "devices.title"), body)

    def _state_words(self, lang: str, values: dict[str, Any]) -> str:
        rows = []
        for cap, value in values.items():
            key = f"cap.{cap}"
            if not has(key):
                continue  # a capability without words is not shown rather than shown raw
            if isinstance(value, bool):
                shown = translate(lang, "yes" if value else "no")
            elif isinstance(value, int | float):
                shown = f"{value:g}" + (translate(lang, key + ".unit") if has(key + ".unit") else "")
            else:
                shown = translate(lang, f"val.{value}") if has(f"val.{value}") else "—"
            rows.append(f"<dt>{esc(translate(lang, key))}</dt><dd>{esc(shown)}</dd>")
        return "".join(rows)

    async def device_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        dev = self.ctx.registry.get(request.match_info["id"])
        if dev is None:
            raise web.HTTPSeeOther("/devices")
        seen = self.ctx.intake.seen.get(dev.id)
        values = dict(seen.values) if seen else {}
        meta = dict(seen.meta) if seen else {}
        battery = values.get("battery", meta.get("battery"))
        rec = self.svc.tests.tested.get(dev.id)
        history = (
            "".join(
                f'<li data-kind="{esc(h["kind"])}"><span class="muted small">{esc(fmt_time(self.ctx, h["at"], lang))}'
                f"</span> {esc(kind_name(lang, h['kind']))}</li>"
                for h in reversed(self.svc.history.get(dev.id, ()))
            )
            or f'<li class="muted" id="dev-no-events">{esc(translate(lang, "devices.no_events"))}</li>'
        )
        tested_text = (
            f"✔ {translate(lang, 'devices.tested')} · {kind_name(lang, rec.kind)}"
            if rec
            else f"✘ {translate(lang, 'devices.not_tested')}"
        )
        saved = request.query.get("saved") == "1"
        body = fill(
            "device",
            lang,
            id=dev.id,
            name=dev.name if dev.id in self.svc.record.named or dev.name not in (dev.id, dev.address) else "",
            label=self._label(lang, dev),
            type=type_name(lang, dev.type),
            transport=transport_name(lang, dev.transport),
            room=room_name(lang, dev.room),
            room_select=room_select(lang, dev.room, self._rooms_in_use(), ident="dev-room"),
            press_call=press_call_box(lang, dev.params),
            state=self._state_words(lang, {k: v for k, v in values.items() if k != "battery"}),
            battery=f"{battery:g}%" if isinstance(battery, int | float) and not isinstance(battery, bool) else "—",
            signal=signal_text(lang, meta),
            last_seen=fmt_time(self.ctx, seen.last_seen if seen else None, lang),
            tested_class="ok" if rec else "bad",
            tested=tested_text,
            history=history,
            csrf=session_of(request).csrf,
            saved=f'<p class="flash" role="status">{esc(translate(lang, "js.saved"))}</p>' if saved else "",
        )
        return self._page(request, "devices", self._label(lang, dev), body)

    async def device_form(self, request: web.Request) -> web.StreamResponse:
        """The device page's form without script: rename / move, then back to the page."""
        dev = self.ctx.registry.get(request.match_info["id"])
        if dev is None:
            raise web.HTTPSeeOther("/devices")
        form = await read_form(request)
        if form is None:
            raise web.HTTPBadRequest(text="the form could not be read")
        changes: dict[str, Any] = {}
        name = form.get("name")
        if isinstance(name, str) and name.strip() and name.isprintable() and len(name) <= 64:
            changes["name"] = name.strip()
        room = chosen_room(form)
        if room is not None and room.isprintable() and len(room) <= 32:
            changes["room"] = room
        if form.get("press_is_call_shown") == "1" and PRESS_IS_CALL in dev.params:  # an unticked box sends nothing
            changes["params"] = {**dev.params, PRESS_IS_CALL: form.get(PRESS_IS_CALL) == "1"}
        if changes:
            try:
                await self.ctx.registry.update(dev.id, **changes)
            except KeyError:  # removed meanwhile
                raise web.HTTPSeeOther("/devices") from None
            if "name" in changes:
                self.svc.record.named.add(dev.id)
                self.svc.record.save_soon()
        raise web.HTTPSeeOther(f"/devices/{dev.id}?saved=1")

    async def remove_form(self, request: web.Request) -> web.StreamResponse:
        """Remove without script (the form's confirmation box is required)."""
        dev = self.ctx.registry.get(request.match_info["id"])
        form = await read_form(request)
        if form is None:
            raise web.HTTPBadRequest(text="the form could not be read")
        if dev is None or form.get("confirm") != "1":
            raise web.HTTPSeeOther("/devices")
        driver = self.ctx.drivers.get(dev.transport)
        if driver is not None:
            try:
                await asyncio.wait_for(driver.remove(dev.id), 20.0)
                self.svc.record.forget_device(dev.id)
            except (ValueError, LookupError, OSError, RuntimeError, TimeoutError) as exc:
                log.warning("removing %s failed: %s", dev.id, exc)
        raise web.HTTPSeeOther("/devices")

    async def add_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        transports = (
            "".join(
                f'<button type="button" class="choice" data-transport="{esc(name)}" '
                f'data-adopt="{1 if can_adopt(drv) else 0}" data-keyed="{1 if name in KEYED_TRANSPORTS else 0}" '
                f'aria-pressed="false">{esc(transport_name(lang, name))}</button>'
                for name, drv in self.ctx.drivers.items()
                if drv.has_devices
            )
            or f'<p class="muted">{esc(translate(lang, "add.no_transports"))}</p>'
        )
        howtos = "".join(
            f'<div class="howto" data-for="{esc(name)}" hidden><p>{esc(translate(lang, f"howto.{name}"))}</p>'
            + (
                "<ul>"
                + "".join(
                    f"<li><b>{esc(type_name(lang, t))}</b>：{esc(translate(lang, f'howto.{name}.{t}'))}</li>"
                    for t in ("call_button", "smoke", "gas", "door", "motion", "leak")
                )
                + "</ul>"
                if name == "zigbee"
                else ""
            )
            + "</div>"
            for name in self.ctx.drivers
        )
        types = "".join(f'<option value="{esc(t)}">{esc(type_name(lang, t))}</option>' for t in ADD_TYPES)
        body = fill(
            "add",
            lang,
            transports=transports,
            howtos=howtos,
            type_options=types,
            room_select=room_select(lang, "", self._rooms_in_use(), ident="adopt-room"),
            card_room_select=room_select(lang, "", self._rooms_in_use()),
            seconds=self.svc.settings.pairing_s,
        )
        return self._page(request, "add", translate(lang, "add.title"), body)

    async def test_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        items = []
        for dev_id, rec in self.svc.tests.tested.items():
            dev = self.ctx.registry.get(dev_id)
            if dev is None:
                continue
            items.append(
                f'<li class="ok" data-device="{esc(dev_id)}">✔ <b>{esc(self._label(lang, dev))}</b> '
                f"{esc(kind_name(lang, rec.kind))}</li>"
            )
        body = fill("test", lang, tested="".join(items))
        return self._page(request, "test", translate(lang, "test.title"), body)

    async def acceptance_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        chk = self.svc.checklist(lang)
        if chk is None:
            body = f'<p class="error" role="alert">{esc(translate(lang, "acc.no_profile"))}</p>'
            return self._page(request, "acceptance", translate(lang, "acc.title"), body)
        rec = self.svc.record
        items = "".join(self._item_html(lang, i) for i in chk["items"])
        devices = "".join(
            f'<li class="{"ok" if d["tested"] else "bad"}" data-id="{esc(d["id"])}">'
            f'<span class="mark">{esc(tested_mark(lang, d["tested"]))}</span> '
            f'{esc(d["name"])} <span class="muted">'
            f"{esc(room_name(lang, d['room']))} · {esc(type_name(lang, d['type']))}</span></li>"
            for d in chk["devices"]
        )
        body = fill(
            "acceptance",
            lang,
            county=chk["county"]["name"],
            household=rec.household,
            installer=rec.installer,
            items=items,
            devices=devices,
            verdict=translate(lang, "acc.passed" if chk["passed"] else "acc.failed"),
            verdict_class="ok" if chk["passed"] else "bad",
            devices_class="ok" if chk["all_tested"] else "bad",
            uplink_class="ok" if chk["uplink"]["ok"] else "bad",
            devices_mark="✔" if chk["all_tested"] else "✘",
            uplink_mark="✔" if chk["uplink"]["ok"] else "✘",
        )
        return self._page(request, "acceptance", translate(lang, "acc.title"), body)

    def _item_html(self, lang: str, i: dict[str, Any]) -> str:
        conf = i["confirmed"]
        manual = ""
        if i["manual"]:
            manual = fill(
                "manual",
                lang,
                key=i["key"],
                note=conf["note"] if conf else "",
                by=conf["by"] if conf else self.svc.record.installer,
            )
        optional = "" if i["required"] else f' <span class="badge">{esc(translate(lang, "acc.optional"))}</span>'
        evidence = esc("、".join(i["names"])) if i["names"] else ""
        if conf:
            evidence = esc(
                translate(
                    lang,
                    "acc.confirmed_by",
                    by=conf["by"],
                    at=fmt_time(self.ctx, conf["at"], lang, "%m-%d %H:%M"),
                    note=conf["note"],
                )
            )
        return (
            f'<li class="{"ok" if i["ok"] else "bad"}" id="chk-{esc(i["key"])}">'
            f'<span class="mark" aria-hidden="true"></span>'
            f'<span class="sr">{esc(translate(lang, "acc.tested" if i["ok"] else "acc.untested"))}</span>'
            f"{esc(i['label'])}{optional} "
            f'<span class="muted count">({i["have"]}/{i["need"]})</span>'
            f'<div class="muted small evidence">{evidence}</div>{manual}</li>'
        )

    async def report_page(self, request: web.Request) -> web.StreamResponse:
        lang = lang_of(request, self.svc)
        chk = self.svc.checklist(lang)
        if chk is None:
            raise web.HTTPSeeOther("/acceptance")
        rec = self.svc.record
        names = {d["id"]: d for d in chk["devices"]}
        yes, no = translate(lang, "yes"), translate(lang, "no")

        def evidence(i: dict[str, Any]) -> str:
            parts = [
                translate(
                    lang,
                    "report.by_test",
                    name=names[d]["name"],
                    room=room_name(lang, names[d]["room"]),
                    kind=kind_name(lang, names[d]["kind"] or ""),
                )
                for d in i["devices"]
                if d in names
            ]
            if i["confirmed"]:
                c = i["confirmed"]
                at = fmt_time(self.ctx, c["at"], lang, "%m-%d %H:%M")
                parts.append(translate(lang, "acc.confirmed_by", by=c["by"], at=at, note=c["note"]))
            if i["key"] == "gateway" or (not i["devices"] and not i["confirmed"] and i["ok"]):
                parts.append(translate(lang, "report.uplink") if i["ok"] else "")
            return "；".join(p for p in parts if p) or translate(lang, "report.none")

        items = "".join(
            f'<tr class="{"ok" if i["ok"] else "bad"}"><td class="mark">{"✔" if i["ok"] else "✘"}</td>'
            f"<td><b>{esc(i['label'])}</b>"
            + ("" if i["required"] else f" ({esc(translate(lang, 'acc.optional'))})")
            + (f'<div class="plan">{esc(i["plan"])}</div>' if i["plan"] and lang == "zh" else "")
            + f'<div class="evidence">{esc(translate(lang, "report.evidence"))}：{esc(evidence(i))}</div></td></tr>'
            for i in chk["items"]
        )
        devices = "".join(
            f"<tr><td>{esc(d['name'])}</td><td>{esc(room_name(lang, d['room']))}</td>"
            f"<td>{esc(type_name(lang, d['type']))}</td>"
            f"<td>{esc('✔ ' + kind_name(lang, d['kind'] or '') if d['tested'] else tested_mark(lang, False))}</td></tr>"
            for d in chk["devices"]
        )
        body = fill(
            "report",
            lang,
            lang=lang,
            gateway=self.ctx.gateway_id,
            county=chk["county"]["name"],
            household=rec.household or "—",
            installer=rec.installer or "—",
            date=fmt_time(self.ctx, time.time(), lang, "%Y-%m-%d %H:%M"),
            started=fmt_time(self.ctx, rec.started_at, lang, "%Y-%m-%d %H:%M"),
            verdict=translate(lang, "acc.passed" if chk["passed"] else "acc.failed"),
            verdict_class="ok" if chk["passed"] else "bad",
            items=items,
            devices=devices,
            all_tested=yes if chk["all_tested"] else no,
            uplink=yes if chk["uplink"]["ok"] else no,
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8")


def hotspot_card(hotspot: dict[str, Any] | None, lang: str) -> dict[str, str]:
    """The install access point's state in words (the reason too when it cannot run)."""
    state = hotspot["state"] if hotspot else "disabled"
    ssid = (hotspot.get("ssid") or "") if hotspot else ""
    why = ""
    if hotspot and state == "unavailable" and hotspot.get("reason_code"):
        why = translate(lang, f"hotspot.reason.{hotspot['reason_code']}")
    css = {"on": "ok", "unavailable": "bad"}.get(state, "")
    return {"hotspot": translate(lang, f"hotspot.{state}", ssid=ssid), "hotspot_class": css, "hotspot_why": why}


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
