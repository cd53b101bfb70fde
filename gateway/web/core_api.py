"""The core JSON endpoints that rigs, benchmarks and outside checkers rely on. Keep them stable.

- ``GET /api/devices``: paired devices (id, type, room, transport, capabilities, last_seen). During start-up it
  waits (up to ``DEVICES_START_WAIT_S``) for the drivers still loading, which register devices as they start;
  ``loading`` names any driver it stopped waiting for, so a short list is never taken for the whole home.
- ``GET /api/status``: uplink, outbox, clock, drivers, and ``tasks`` (asyncio tasks alive, for soaks).
- ``POST /api/sim/readings``: inject readings into the simulated home; only with the sim driver enabled and
  the server bound to loopback. Answers 200 only after every resulting event is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.jsonin import JsonRejected
from drivers.base import Reading
from gateway.intake import BadReading, UnknownDevice
from gateway.outbox import OutboxError
from gateway.web.body import read_json

if TYPE_CHECKING:
    from gateway.context import ServiceContext

MAX_READINGS_PER_REQUEST = 10_000


class SimReading(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str = Field(min_length=1, max_length=128)
    capability: str = Field(min_length=1, max_length=64)
    value: Any
    trace: str | None = Field(default=None, max_length=256)


#: How long a sim reading sent during start-up waits for the simulated home to start.
SIM_START_WAIT_S = 10.0
#: How long a device list asked for during start-up waits for the drivers to load.
DEVICES_START_WAIT_S = 10.0


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _is_loopback_peer(request: web.Request) -> bool:
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


def devices_payload(ctx: ServiceContext) -> list[dict[str, Any]]:
    out = []
    for dev in ctx.registry:
        seen = ctx.intake.seen.get(dev.id)
        item = dev.public()
        item["last_seen"] = seen.last_seen if seen and seen.last_seen else None
        item["online"] = seen.online if seen else None
        item["values"] = dict(seen.values) if seen else {}
        out.append(item)
    return sorted(out, key=lambda d: (d["room"], d["id"]))


async def drivers_loaded(ctx: ServiceContext) -> bool:
    """Wait (up to ``DEVICES_START_WAIT_S``) for the drivers still loading at start-up, which register their
    devices as they start: a device asked for in that second is not taken for unknown. False if still loading."""
    if not ctx.drivers_loaded.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DEVICES_START_WAIT_S):
                await ctx.drivers_loaded.wait()
    return ctx.drivers_loaded.is_set()


async def _sim_started(ctx: ServiceContext) -> bool:
    """Drivers start after the web server: a reading sent while the simulated home is still starting waits for
    it (up to ``SIM_START_WAIT_S``) rather than being refused."""
    if not any(h.transport == "sim" and h.state == "starting" for h in ctx.driver_health()):
        return False
    started = asyncio.Event()
    unsubscribe = ctx.driver_started.connect(lambda name: started.set() if name == "sim" else None)
    try:
        if "sim" in ctx.drivers:  # started between the look and the listener
            return True
        async with asyncio.timeout(SIM_START_WAIT_S):
            await started.wait()
    except TimeoutError:
        return False
    finally:
        unsubscribe()
    return "sim" in ctx.drivers


def setup(app: web.Application, ctx: ServiceContext, *, loopback_only: bool) -> None:
    """Mount the core API. ``loopback_only``: the server listens on loopback only (sim readings need it)."""

    async def get_devices(request: web.Request) -> web.Response:
        await drivers_loaded(ctx)
        loading = sorted(h.transport for h in ctx.driver_health() if h.state == "starting" and h.detail == "loading")
        return web.json_response({"devices": devices_payload(ctx), "loading": loading})

    async def get_status(request: web.Request) -> web.Response:
        # asyncio tasks and Python's allocated memory blocks alive in the process: a soak watches both stay flat
        # across reconnects (blocks count live objects, so allocator fragmentation, which RSS shows, does not move it).
        alive = {"tasks": len(asyncio.all_tasks()), "py_blocks": sys.getallocatedblocks()}
        return web.json_response({**ctx.status(), **alive})

    async def post_sim_readings(request: web.Request) -> web.Response:
        if "sim" not in ctx.drivers and not await _sim_started(ctx):
            if any(h.transport == "sim" and h.state == "starting" for h in ctx.driver_health()):
                return _error(503, "the simulated home (drivers.sim) is still starting; try again")
            return _error(404, "the simulated home (drivers.sim) is not enabled")
        if not loopback_only or not _is_loopback_peer(request):
            return _error(403, "sim readings are accepted only on a loopback-bound server from loopback")
        try:
            body = await read_json(request, ctx.config().http)
        except JsonRejected as exc:
            return _error(
                exc.status, f"body must be JSON: one reading object or a list of them ({exc.reason}: {exc.detail})"
            )
        items = body if isinstance(body, list) else [body]
        if not items or len(items) > MAX_READINGS_PER_REQUEST:
            return _error(400, f"send between 1 and {MAX_READINGS_PER_REQUEST} readings")
        readings = []
        for i, item in enumerate(items):
            try:
                parsed = SimReading.model_validate(item)
            except ValidationError as exc:
                where = f"reading {i}: " if isinstance(body, list) else ""
                msg = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
                return _error(400, where + msg)
            reading = Reading(parsed.device, parsed.capability, parsed.value, trace=parsed.trace)
            try:
                ctx.intake.check(reading)
            except UnknownDevice as exc:
                return _error(404, str(exc))
            except BadReading as exc:
                return _error(422, str(exc))
            readings.append(reading)
        try:
            events = await ctx.intake.readings(readings)
        except OutboxError as exc:
            return _error(503, f"not stored: {exc}")
        return web.json_response(
            {"accepted": len(readings), "events": [{"id": e.id, "seq": e.seq, "kind": e.kind} for e in events]}
        )

    app.router.add_get("/api/devices", get_devices)
    app.router.add_get("/api/status", get_status)
    app.router.add_post("/api/sim/readings", post_sim_readings)
