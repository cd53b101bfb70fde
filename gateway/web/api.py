"""The JSON API behind the technician's page (signed-in; CSRF on every change).

Every body is validated by a pydantic model (unknown fields refused); a bad request answers 4xx with a
message that says what is wrong. Driver errors are answered, never raised into the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from core.devices import Device
from core.events import EventDraft, Priority
from core.jsonin import JsonRejected
from drivers.base import DriverConfigError
from gateway.outbox import OutboxError
from gateway.web.body import read_json
from gateway.web.core_api import drivers_loaded
from gateway.web.guard import json_error, session_of
from gateway.web.i18n import reason_key, room_key
from gateway.web.live import TooManyStreams
from gateway.web.pairing import PairingState
from gateway.web.record import Confirmation, Submission
from gateway.web.service import TechnicianService
from gateway.web.views import ADD_TYPES, can_adopt, lang_of, overview
from gateway.web.window import WindowLimit

if TYPE_CHECKING:
    from gateway.config import HttpSection
    from gateway.context import ServiceContext

log = logging.getLogger(__name__)

ADOPT_TIMEOUT_S = 60.0
DRIVER_CALL_TIMEOUT_S = 20.0
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")

M = TypeVar("M", bound=BaseModel)


def _printable(value: str) -> str:
    value = value.strip()
    if not value.isprintable():
        raise ValueError("must not contain control characters")
    return value


Text64 = Annotated[str, Field(max_length=64), AfterValidator(_printable)]
Room = Annotated[str, Field(max_length=32), AfterValidator(_printable)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceChange(_Body):
    name: Text64 | None = None
    room: Room | None = None
    #: a generic remote (Zigbee On/Off buttons): whether its press is an emergency call
    press_is_call: bool | None = None


class PairingStart(_Body):
    seconds: int | None = Field(default=None, ge=10, le=600)


class Adopt(_Body):
    address: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_printable)]
    type: str
    name: Text64 = ""
    room: Room = ""
    bindkey: str = ""


class Manual(_Body):
    key: str = Field(max_length=32)
    note: Annotated[str, Field(max_length=80), AfterValidator(_printable)] = ""
    #: Who confirms it (default: the installer's name saved for this installation).
    by: Text64 = ""


class Submit(_Body):
    technician: Text64 = ""


class Info(_Body):
    household: Text64 | None = None
    installer: Text64 | None = None


class WindowExtend(_Body):
    seconds: int = Field(ge=60, le=24 * 3600)


class TestModeRequest(_Body):
    #: 0 ends test mode now.
    minutes: int = Field(ge=0, le=240)


class BadRequest(Exception):
    """A request the page should not have sent; ``code`` and ``params`` let the page say it in its language."""

    def __init__(self, message: str, code: str = "bad_request", status: int = 400, **params: object) -> None:
        self.message = message
        self.code = code
        self.status = status
        self.params = params


def fail(
    status: int, code: str, message: str, *, extra: Mapping[str, object] | None = None, **params: object
) -> web.Response:
    """An error answer: English ``error`` for logs and scripts, ``code`` + ``params`` for the page's words."""
    return json_error(status, message, code=code, params={k: str(v)[:200] for k, v in params.items()}, **(extra or {}))


def radio_fail(status: int, code: str, transport: str, message: str, detail: str = "") -> web.Response:
    """A radio's failure: its English detail is classified into a reason the page can translate."""
    return fail(status, code, message, radio=transport, reason=reason_key(detail or message), detail=detail)


async def parse[M: BaseModel](request: web.Request, model: type[M], http: HttpSection) -> M:
    """The request's JSON body as ``model``, or :class:`BadRequest` with a readable message."""
    if request.content_type != "application/json":
        raise BadRequest("send a JSON body (Content-Type: application/json)")
    try:
        raw = await read_json(request, http)
    except JsonRejected as exc:
        what = "body too large" if exc.reason == "too_large" else f"body is not valid JSON ({exc.reason})"
        raise BadRequest(f"{what}: {exc.detail}", status=exc.status, field="body") from None
    if not isinstance(raw, dict):
        raise BadRequest("body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) or "body" for e in exc.errors())
        raise BadRequest(
            "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()), field=fields
        ) from None


class Api:
    def __init__(self, ctx: ServiceContext, svc: TechnicianService) -> None:
        self.ctx = ctx
        self.svc = svc

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/overview", self.wrap(self.get_overview))
        r.add_get("/api/devices/{id}", self.wrap(self.device_detail))
        r.add_patch("/api/devices/{id}", self.wrap(self.change_device))
        r.add_delete("/api/devices/{id}", self.wrap(self.remove_device))
        r.add_post("/api/devices/{id}/identify", self.wrap(self.identify))
        r.add_get("/api/transports", self.wrap(self.transports))
        r.add_get("/api/pairing/{transport}", self.wrap(self.pairing_state))
        r.add_post("/api/pairing/{transport}/start", self.wrap(self.pairing_start))
        r.add_post("/api/pairing/{transport}/stop", self.wrap(self.pairing_stop))
        r.add_post("/api/pairing/{transport}/adopt", self.wrap(self.adopt))
        r.add_get("/api/tests", self.wrap(self.tests))
        r.add_get("/api/acceptance", self.wrap(self.acceptance))
        r.add_post("/api/acceptance/manual", self.wrap(self.manual))
        r.add_post("/api/acceptance/info", self.wrap(self.info))
        r.add_post("/api/acceptance/reset", self.wrap(self.reset))
        r.add_post("/api/acceptance/submit", self.wrap(self.submit))
        r.add_post("/api/window", self.wrap(self.extend_window))
        r.add_get("/api/test-mode", self.wrap(self.test_mode_state))
        r.add_post("/api/test-mode", self.wrap(self.set_test_mode))
        r.add_get("/api/live", self.live)

    @staticmethod
    def wrap(fn: Any) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                return await fn(request)  # type: ignore[no-any-return]
            except BadRequest as exc:
                params = {k: str(v)[:200] for k, v in exc.params.items()}
                return json_error(exc.status, exc.message, code=exc.code, params=params)

        return handler

    def _driver(self, request: web.Request) -> Any:
        name = request.match_info["transport"]
        driver = self.ctx.drivers.get(name)
        if driver is None:
            raise web.HTTPNotFound(
                text=json.dumps(
                    {
                        "error": f"no running transport {name[:32]!r}; "
                        f"running: {', '.join(self.ctx.drivers) or 'none'}",
                        "code": "radio_not_running",
                        "params": {"radio": name[:32]},
                    }
                ),
                content_type="application/json",
            )
        return driver

    def _unknown(self, dev_id: str) -> web.Response:
        return fail(404, "unknown_device", f"unknown device {dev_id[:64]!r}")

    async def _device(self, dev_id: str) -> Device | None:
        """The registered device; during start-up, once the drivers that register devices have loaded."""
        dev = self.ctx.registry.get(dev_id)
        if dev is None and await drivers_loaded(self.ctx):
            dev = self.ctx.registry.get(dev_id)
        return dev

    # ------------------------------------------------------------------ status and devices

    async def get_overview(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(await overview(self.ctx, self.svc))

    async def device_detail(self, request: web.Request) -> web.StreamResponse:
        dev_id = request.match_info["id"]
        dev = await self._device(dev_id)
        if dev is None:
            return self._unknown(dev_id)
        seen = self.ctx.intake.seen.get(dev_id)
        rec = self.svc.tests.tested.get(dev_id)
        return web.json_response(
            {
                "device": dev.public(),
                "values": dict(seen.values) if seen else {},
                "last_seen": seen.last_seen if seen else None,
                "online": seen.online if seen else None,
                "tested": rec.as_json() if rec else None,
                "history": list(self.svc.history.get(dev_id, ())),
            }
        )

    async def change_device(self, request: web.Request) -> web.StreamResponse:
        dev_id = request.match_info["id"]
        if await self._device(dev_id) is None:
            return self._unknown(dev_id)
        body = await parse(request, DeviceChange, self.ctx.config().http)
        changes: dict[str, Any] = {k: v for k, v in body.model_dump().items() if v is not None}
        if not changes:
            raise BadRequest("nothing to change: send name, room and/or press_is_call", "nothing")
        if "press_is_call" in changes:
            current = self.ctx.registry.get(dev_id)
            if current is None or "press_is_call" not in current.params:
                raise BadRequest("press_is_call: only for a remote whose presses are calls by choice", "not_remote")
            changes["params"] = {**current.params, "press_is_call": changes.pop("press_is_call")}
        if changes.get("name") == "":
            raise BadRequest("name: must not be empty", "name_empty")
        if "room" in changes:
            changes["room"] = room_key(changes["room"])
        try:
            dev = await self.ctx.registry.update(dev_id, **changes)
        except KeyError:  # removed meanwhile
            return self._unknown(dev_id)
        if "name" in changes:
            self.svc.record.named.add(dev_id)
            self.svc.record.save_soon()
        return web.json_response({"device": dev.public()})

    async def remove_device(self, request: web.Request) -> web.StreamResponse:
        dev_id = request.match_info["id"]
        dev = await self._device(dev_id)
        if dev is None:
            return self._unknown(dev_id)
        driver = self.ctx.drivers.get(dev.transport)
        if driver is None:
            return fail(
                409,
                "radio_not_running",
                f"the {dev.transport} radio is not running; cannot remove {dev_id} from it now",
                radio=dev.transport,
            )
        try:
            await asyncio.wait_for(driver.remove(dev_id), DRIVER_CALL_TIMEOUT_S)
        except DriverConfigError as exc:  # the driver refuses (e.g. the box's own install button)
            return radio_fail(409, "radio_refused", dev.transport, str(exc))
        except (LookupError, OSError, RuntimeError) as exc:
            log.warning("removing %s failed: %s", dev_id, exc)
            return radio_fail(
                502,
                "radio_failed",
                dev.transport,
                f"the {dev.transport} radio could not remove {dev_id}: {exc}",
                str(exc),
            )
        except TimeoutError:
            return fail(504, "radio_timeout", f"the {dev.transport} radio did not answer in time", radio=dev.transport)
        self.svc.record.forget_device(dev_id)
        log.info("device %s removed from the page", dev_id)
        return web.json_response({"removed": dev_id})

    async def identify(self, request: web.Request) -> web.StreamResponse:
        dev_id = request.match_info["id"]
        dev = await self._device(dev_id)
        if dev is None:
            return self._unknown(dev_id)
        driver = self.ctx.drivers.get(dev.transport)
        if driver is None:
            return fail(409, "radio_not_running", f"the {dev.transport} radio is not running", radio=dev.transport)
        try:
            done = await asyncio.wait_for(driver.identify(dev_id), DRIVER_CALL_TIMEOUT_S)
        except (LookupError, OSError, RuntimeError, ValueError) as exc:
            return radio_fail(502, "radio_failed", dev.transport, f"identify failed: {exc}", str(exc))
        except TimeoutError:
            return fail(504, "radio_timeout", f"the {dev.transport} radio did not answer in time", radio=dev.transport)
        if not done:
            return fail(409, "identify_unsupported", f"{dev_id} cannot identify itself")
        return web.json_response({"identified": dev_id})

    # ------------------------------------------------------------------ pairing

    async def transports(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "transports": [
                    {
                        "name": name,
                        "adopt": can_adopt(drv),
                        "health": drv.health().state,
                        "pairing": self.svc.pairing_state(name),
                    }
                    for name, drv in self.ctx.drivers.items()
                ]
            }
        )

    async def pairing_state(self, request: web.Request) -> web.StreamResponse:
        self._driver(request)
        return web.json_response(self.svc.pairing_state(request.match_info["transport"]))

    async def pairing_start(self, request: web.Request) -> web.StreamResponse:
        driver = self._driver(request)
        body = await parse(request, PairingStart, self.ctx.config().http)
        name = request.match_info["transport"]
        health = driver.health()
        if health.state not in ("up", "degraded"):  # no countdown for a radio that cannot hear anyone
            return radio_fail(
                409,
                "radio_down",
                name,
                f"the {name} radio is {health.state}: {health.detail}",
                health.detail or "not connected",
            )
        seconds = body.seconds or self.svc.settings.pairing_s
        state = self.svc.pairing.setdefault(name, PairingState(name))
        before = len(state.log)
        try:
            await asyncio.wait_for(driver.start_pairing(seconds), DRIVER_CALL_TIMEOUT_S)
        except (DriverConfigError, OSError, RuntimeError) as exc:
            return radio_fail(409, "pairing_failed", name, f"pairing could not start: {exc}", str(exc))
        except TimeoutError:
            return fail(504, "radio_timeout", "the radio did not answer in time", radio=name)
        failed = next((e for e in list(state.log)[before:] if e["stage"] == "failed" and not e["device"]), None)
        if failed is not None and state.remaining_s() == 0:  # the driver said why it could not open
            detail = str(failed.get("detail") or "")
            return radio_fail(409, "pairing_failed", name, f"pairing could not start: {detail}", detail)
        if state.remaining_s() == 0:  # the driver sent no "open" update: count down anyway
            state.open_until = time.monotonic() + seconds
        return web.json_response({"started": True, "seconds": seconds, "state": self.svc.pairing_state(name)})

    async def pairing_stop(self, request: web.Request) -> web.StreamResponse:
        driver = self._driver(request)
        name = request.match_info["transport"]
        try:
            await asyncio.wait_for(driver.stop_pairing(), DRIVER_CALL_TIMEOUT_S)
        except (DriverConfigError, OSError, RuntimeError) as exc:
            return radio_fail(409, "radio_failed", name, f"pairing could not stop: {exc}", str(exc))
        except TimeoutError:
            return fail(504, "radio_timeout", "the radio did not answer in time", radio=name)
        state = self.svc.pairing.get(name)
        if state is not None:
            state.open_until = None
        return web.json_response({"stopped": True})

    async def adopt(self, request: web.Request) -> web.StreamResponse:
        driver = self._driver(request)
        if not can_adopt(driver):
            return fail(409, "not_adoptable", f"{driver.transport} devices join by themselves: start pairing instead")
        body = await parse(request, Adopt, self.ctx.config().http)
        if body.type not in ADD_TYPES:
            raise BadRequest(f"type: must be one of {', '.join(ADD_TYPES)}", "bad_type")
        if body.bindkey and not _HEX32.match(body.bindkey):
            raise BadRequest("bindkey: must be 32 hexadecimal digits", "bad_bindkey")
        options: dict[str, Any] = {"type": body.type, "name": body.name or body.address, "room": room_key(body.room)}
        if body.bindkey:
            options["secret"] = body.bindkey.lower()
        try:
            dev = await asyncio.wait_for(driver.adopt(body.address, options), ADOPT_TIMEOUT_S)
        except DriverConfigError as exc:
            return radio_fail(422, "radio_refused", driver.transport, str(exc))
        except (LookupError, OSError, RuntimeError) as exc:
            return radio_fail(
                502, "radio_failed", driver.transport, f"the {driver.transport} radio could not add it: {exc}", str(exc)
            )
        except TimeoutError:
            return fail(504, "adopt_timeout", "no valid signal from the device in time: press it and try again")
        if body.name:
            self.svc.record.named.add(dev.id)
            self.svc.record.save_soon()
        return web.json_response({"device": dev.public()})

    # ------------------------------------------------------------------ tests and acceptance

    async def tests(self, request: web.Request) -> web.StreamResponse:
        t = self.svc.tests
        return web.json_response(
            {
                "tested": {k: r.as_json() for k, r in t.tested.items()},
                "log": [r.as_json() for r in t.log],
                "uplink_verified_at": t.uplink_verified_at,
            }
        )

    def _checklist(self, request: web.Request) -> web.Response:
        chk = self.svc.checklist(lang_of(request, self.svc))
        if chk is None:
            return fail(409, "no_profile", f"no county profile: {self.svc.profile_error}")
        rec = self.svc.record
        chk["household"], chk["installer"] = rec.household, rec.installer
        chk["submitted"] = asdict(rec.submitted) if rec.submitted else None
        return web.json_response(chk)

    async def acceptance(self, request: web.Request) -> web.StreamResponse:
        return self._checklist(request)

    async def manual(self, request: web.Request) -> web.StreamResponse:
        body = await parse(request, Manual, self.ctx.config().http)
        profile = self.svc.profile
        if profile is None:
            return fail(409, "no_profile", f"no county profile: {self.svc.profile_error}")
        req = next((i for i in profile.items if i.key == body.key), None)
        if req is None or not req.manual:
            raise BadRequest(f"key: {body.key!r} is not an item that may be confirmed by hand", "not_manual")
        rec = self.svc.record
        if body.note:
            by = body.by or rec.installer
            if not by:
                raise BadRequest("by: say who confirms it (the technician's name)", "need_name")
            rec.manual[body.key] = Confirmation(body.note, by, time.time())
        else:
            rec.manual.pop(body.key, None)
        rec.save_soon()
        return self._checklist(request)

    async def info(self, request: web.Request) -> web.StreamResponse:
        body = await parse(request, Info, self.ctx.config().http)
        rec = self.svc.record
        if body.household is not None:
            rec.household = body.household
        if body.installer is not None:
            rec.installer = body.installer
        rec.save_soon()
        return self._checklist(request)

    async def reset(self, request: web.Request) -> web.StreamResponse:
        self.svc.record.clear()
        log.warning("installation record cleared from the page: a new installation starts")
        return self._checklist(request)

    async def submit(self, request: web.Request) -> web.StreamResponse:
        body = await parse(request, Submit, self.ctx.config().http)
        chk = self.svc.checklist("zh")
        if chk is None:
            return fail(409, "no_profile", f"no county profile: {self.svc.profile_error}")
        rec = self.svc.record
        technician = body.technician or rec.installer
        data = {
            "county": chk["county"]["id"],
            "passed": chk["passed"],
            "items": [
                {k: i[k] for k in ("key", "ok", "required", "have", "need", "devices")}
                | {"note": i["confirmed"]["note"] if i["confirmed"] else "", "confirmed": i["confirmed"]}
                for i in chk["items"]
            ],
            "devices": [
                {k: d[k] for k in ("id", "type", "room", "transport", "tested", "to_outbox_ms", "to_broker_ms")}
                for d in chk["devices"]
            ],
            "all_tested": chk["all_tested"],
            "uplink_verified": chk["uplink"]["ok"],
            "window_opened_at": self.svc.window.opened_at,
            "installation_started_at": rec.started_at,
            "household": rec.household,
            "technician": technician,
        }
        try:
            events = await self.ctx.emit([EventDraft("install.acceptance", Priority.ALERT, None, data)])
        except OutboxError as exc:
            return fail(503, "not_stored", f"not stored: {exc}")
        ev = events[0]
        rec.submitted = Submission(ev.id, ev.seq, chk["passed"], time.time())
        rec.save_soon()
        log.info("install.acceptance %s sent (passed=%s)", ev.id, chk["passed"])
        return web.json_response({"event": ev.id, "seq": ev.seq, "passed": chk["passed"], "at": rec.submitted.at})

    async def extend_window(self, request: web.Request) -> web.StreamResponse:
        body = await parse(request, WindowExtend, self.ctx.config().http)
        try:
            granted = self.svc.window.extend(body.seconds, by="technician")
        except WindowLimit as exc:
            code = "window_limit" if self.svc.window.is_open else "window_closed"
            return fail(409, code, str(exc), extra={"extendable_s": self.svc.window.extendable_s()})
        return web.json_response({"open": True, "seconds": granted, "extendable_s": self.svc.window.extendable_s()})

    # ------------------------------------------------------------------ installation test mode

    async def test_mode_state(self, request: web.Request) -> web.StreamResponse:
        mode = self.svc.test_mode
        if mode is None:
            return json_error(404, "test mode is not available")
        return web.json_response({"active": mode.test_mode_active})

    async def set_test_mode(self, request: web.Request) -> web.StreamResponse:
        """The test page's button: test presses are flagged, call nobody out, and say "test received"."""
        body = await parse(request, TestModeRequest, self.ctx.config().http)
        mode = self.svc.test_mode
        if mode is None:
            return json_error(404, "test mode is not available")
        if body.minutes == 0:
            return web.json_response(await mode.end_test("technician"))
        return web.json_response(await mode.start_test(body.minutes, "technician"))

    # ------------------------------------------------------------------ live

    async def live(self, request: web.Request) -> web.StreamResponse:
        if request.method == "HEAD":  # headers only: a stream body after a HEAD answer breaks the connection
            return web.Response(content_type="text/event-stream", headers={"Cache-Control": "no-store"})
        try:
            token = session_of(request).token
            return await self.svc.hub.stream(
                request,
                {"window_s": self.svc.window.remaining_s()},
                alive=lambda: self.svc.sessions.get(token) is not None,
            )
        except TooManyStreams as exc:  # the client's doing (too many tabs): 429, not a server fault
            return fail(429, "busy", str(exc))
