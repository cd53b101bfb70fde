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
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from core.events import EventDraft, Priority
from drivers.base import DriverConfigError
from gateway.outbox import OutboxError
from gateway.web.guard import json_error, session_of
from gateway.web.live import TooManyStreams
from gateway.web.pairing import PairingState
from gateway.web.service import TechnicianService
from gateway.web.views import ADD_TYPES, can_adopt, lang_of, overview
from gateway.web.window import WindowLimit

if TYPE_CHECKING:
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


class Submit(_Body):
    technician: Text64 = ""


class WindowExtend(_Body):
    seconds: int = Field(ge=60, le=24 * 3600)


class TestModeRequest(_Body):
    #: 0 ends test mode now.
    minutes: int = Field(ge=0, le=240)


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


async def parse[M: BaseModel](request: web.Request, model: type[M]) -> M:
    """The request's JSON body as ``model``, or :class:`BadRequest` with a readable message."""
    if request.content_type != "application/json":
        raise BadRequest("send a JSON body (Content-Type: application/json)")
    try:
        raw = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(raw, dict):
        raise BadRequest("body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise BadRequest(
            "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        ) from None


class Api:
    def __init__(self, ctx: ServiceContext, svc: TechnicianService) -> None:
        self.ctx = ctx
        self.svc = svc

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/overview", self.wrap(self.get_overview))
        r.add_patch("/api/devices/{id}", self.wrap(self.change_device))
        r.add_delete("/api/devices/{id}", self.wrap(self.remove_device))
        r.add_get("/api/transports", self.wrap(self.transports))
        r.add_get("/api/pairing/{transport}", self.wrap(self.pairing_state))
        r.add_post("/api/pairing/{transport}/start", self.wrap(self.pairing_start))
        r.add_post("/api/pairing/{transport}/stop", self.wrap(self.pairing_stop))
        r.add_post("/api/pairing/{transport}/adopt", self.wrap(self.adopt))
        r.add_get("/api/tests", self.wrap(self.tests))
        r.add_get("/api/acceptance", self.wrap(self.acceptance))
        r.add_post("/api/acceptance/manual", self.wrap(self.manual))
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
                return json_error(400, exc.message)

        return handler

    def _driver(self, request: web.Request) -> Any:
        name = request.match_info["transport"]
        driver = self.ctx.drivers.get(name)
        if driver is None:
            raise web.HTTPNotFound(
                text=json.dumps(
                    {"error": f"no running transport {name[:32]!r}; running: {', '.join(self.ctx.drivers) or 'none'}"}
                ),
                content_type="application/json",
            )
        return driver

    # ------------------------------------------------------------------ status and devices

    async def get_overview(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(await overview(self.ctx, self.svc))

    async def change_device(self, request: web.Request) -> web.StreamResponse:
        dev_id = request.match_info["id"]
        if self.ctx.registry.get(dev_id) is None:
            return json_error(404, f"unknown device {dev_id[:64]!r}")
        body = await parse(request, DeviceChange)
        changes = {k: v for k, v in body.model_dump().items() if v is not None}
        if not changes:
            raise BadRequest("nothing to change: send name and/or room")
        if changes.get("name") == "":
            raise BadRequest("name: must not be empty")
        try:
            dev = await self.ctx.registry.update(dev_id, **changes)
        except KeyError:  # removed meanwhile
            return json_error(404, f"unknown device {dev_id[:64]!r}")
        return web.json_response({"device": dev.public()})

    async def remove_device(self, request: web.Request) -> web.StreamResponse:
        dev_id = request.match_info["id"]
        dev = self.ctx.registry.get(dev_id)
        if dev is None:
            return json_error(404, f"unknown device {dev_id[:64]!r}")
        driver = self.ctx.drivers.get(dev.transport)
        if driver is None:
            return json_error(409, f"the {dev.transport} radio is not running; cannot remove {dev_id} from it now")
        try:
            await asyncio.wait_for(driver.remove(dev_id), DRIVER_CALL_TIMEOUT_S)
        except DriverConfigError as exc:  # the driver refuses (e.g. the box's own install button)
            return json_error(409, str(exc))
        except (LookupError, OSError, RuntimeError) as exc:
            log.warning("removing %s failed: %s", dev_id, exc)
            return json_error(502, f"the {dev.transport} radio could not remove {dev_id}: {exc}")
        except TimeoutError:
            return json_error(504, f"the {dev.transport} radio did not answer in time")
        self.svc.tests.tested.pop(dev_id, None)
        log.info("device %s removed from the page", dev_id)
        return web.json_response({"removed": dev_id})

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
        body = await parse(request, PairingStart)
        seconds = body.seconds or self.svc.settings.pairing_s
        try:
            await asyncio.wait_for(driver.start_pairing(seconds), DRIVER_CALL_TIMEOUT_S)
        except (DriverConfigError, OSError, RuntimeError) as exc:
            return json_error(409, f"pairing could not start: {exc}")
        except TimeoutError:
            return json_error(504, "the radio did not answer in time")
        name = request.match_info["transport"]
        state = self.svc.pairing.setdefault(name, PairingState(name))
        if state.remaining_s() == 0:  # the driver sent no "open" update: count down anyway
            state.open_until = time.monotonic() + seconds
        return web.json_response({"started": True, "seconds": seconds, "state": state.as_json()})

    async def pairing_stop(self, request: web.Request) -> web.StreamResponse:
        driver = self._driver(request)
        try:
            await asyncio.wait_for(driver.stop_pairing(), DRIVER_CALL_TIMEOUT_S)
        except (DriverConfigError, OSError, RuntimeError) as exc:
            return json_error(409, f"pairing could not stop: {exc}")
        except TimeoutError:
            return json_error(504, "the radio did not answer in time")
        state = self.svc.pairing.get(request.match_info["transport"])
        if state is not None:
            state.open_until = None
        return web.json_response({"stopped": True})

    async def adopt(self, request: web.Request) -> web.StreamResponse:
        driver = self._driver(request)
        if not can_adopt(driver):
            return json_error(409, f"{driver.transport} devices join by themselves: start pairing instead")
        body = await parse(request, Adopt)
        if body.type not in ADD_TYPES:
            raise BadRequest(f"type: must be one of {', '.join(ADD_TYPES)}")
        if body.bindkey and not _HEX32.match(body.bindkey):
            raise BadRequest("bindkey: must be 32 hexadecimal digits")
        options: dict[str, Any] = {"type": body.type, "name": body.name or body.address, "room": body.room}
        if body.bindkey:
            options["secret"] = body.bindkey.lower()
        try:
            dev = await asyncio.wait_for(driver.adopt(body.address, options), ADOPT_TIMEOUT_S)
        except DriverConfigError as exc:
            return json_error(422, str(exc))
        except (LookupError, OSError, RuntimeError) as exc:
            return json_error(502, f"the {driver.transport} radio could not add it: {exc}")
        except TimeoutError:
            return json_error(504, "no valid signal from the device in time: press it and try again")
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

    async def acceptance(self, request: web.Request) -> web.StreamResponse:
        chk = self.svc.checklist(lang_of(request, self.svc))
        if chk is None:
            return json_error(409, f"no county profile: {self.svc.profile_error}")
        return web.json_response(chk)

    async def manual(self, request: web.Request) -> web.StreamResponse:
        body = await parse(request, Manual)
        profile = self.svc.profile
        if profile is None:
            return json_error(409, f"no county profile: {self.svc.profile_error}")
        req = next((i for i in profile.items if i.key == body.key), None)
        if req is None or not req.manual:
            raise BadRequest(f"key: {body.key!r} is not an item that may be confirmed by hand")
        if body.note:
            self.svc.manual[body.key] = body.note
        else:
            self.svc.manual.pop(body.key, None)
        return web.json_response(self.svc.checklist(lang_of(request, self.svc)))

    async def submit(self, request: web.Request) -> web.StreamResponse:
        body = await parse(request, Submit)
        chk = self.svc.checklist("zh")
        if chk is None:
            return json_error(409, f"no county profile: {self.svc.profile_error}")
        data = {
            "county": chk["county"]["id"],
            "passed": chk["passed"],
            "items": [{k: i[k] for k in ("key", "ok", "have", "need", "devices", "note")} for i in chk["items"]],
            "devices": [
                {k: d[k] for k in ("id", "type", "room", "transport", "tested", "to_outbox_ms", "to_broker_ms")}
                for d in chk["devices"]
            ],
            "all_tested": chk["all_tested"],
            "uplink_verified": chk["uplink"]["ok"],
            "window_opened_at": self.svc.window.opened_at,
            "technician": body.technician,
        }
        try:
            events = await self.ctx.emit([EventDraft("install.acceptance", Priority.ALERT, None, data)])
        except OutboxError as exc:
            return json_error(503, f"not stored: {exc}")
        ev = events[0]
        log.info("install.acceptance %s sent (passed=%s)", ev.id, chk["passed"])
        return web.json_response({"event": ev.id, "seq": ev.seq, "passed": chk["passed"]})

    async def extend_window(self, request: web.Request) -> web.StreamResponse:
        body = await parse(request, WindowExtend)
        try:
            granted = self.svc.window.extend(body.seconds, by="technician")
        except WindowLimit as exc:
            return json_error(409, str(exc), extendable_s=self.svc.window.extendable_s())
        return web.json_response({"open": True, "seconds": granted, "extendable_s": self.svc.window.extendable_s()})

    # ------------------------------------------------------------------ installation test mode

    async def test_mode_state(self, request: web.Request) -> web.StreamResponse:
        mode = self.svc.test_mode
        if mode is None:
            return json_error(404, "test mode is not available")
        return web.json_response({"active": mode.test_mode_active})

    async def set_test_mode(self, request: web.Request) -> web.StreamResponse:
        """The test page's button: test presses are flagged, call nobody out, and say "test received"."""
        body = await parse(request, TestModeRequest)
        mode = self.svc.test_mode
        if mode is None:
            return json_error(404, "test mode is not available")
        if body.minutes == 0:
            return web.json_response(await mode.end_test("technician"))
        return web.json_response(await mode.start_test(body.minutes, "technician"))

    # ------------------------------------------------------------------ live

    async def live(self, request: web.Request) -> web.StreamResponse:
        try:
            token = session_of(request).token
            return await self.svc.hub.stream(
                request,
                {"window_s": self.svc.window.remaining_s()},
                alive=lambda: self.svc.sessions.get(token) is not None,
            )
        except TooManyStreams as exc:
            return json_error(503, str(exc))
