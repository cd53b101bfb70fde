"""A county platform's webhook receiver for tests: aiohttp on 127.0.0.1, checks every signature, and can be
told to fail (status codes), stall, or be stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Callable
from typing import Any

import jsonschema
from aiohttp import web

from tests.support.broker import free_port
from tests.support.schema import event_validator


class Receiver:
    """``plan`` is consumed one entry per request: an int status to answer, or ``"stall"`` (no answer until the
    client gives up); when empty, 200. Only requests answered 2xx count as received."""

    def __init__(self, secret: str, port: int | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.secret = secret
        self.tls = tls
        self.port = port or free_port()
        self.plan: list[int | str] = []
        self.refuse_lanes: set[str] = set()  # answered 403 whatever the plan
        self.events: list[dict[str, Any]] = []  # accepted (2xx) events, in order
        self.requests: list[tuple[int, str, int]] = []  # (status, lane, events in it) of every request
        self.bad_signatures = 0
        self.schema_errors: list[str] = []
        self.example: dict[str, Any] | None = None
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self._validator = event_validator()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/fbgw/events"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/fbgw/events", self._post)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)  # a stalled request must not hold a restart
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True, ssl_context=self.tls).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Receiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def check(self, headers: Any, body: bytes) -> bool:
        ts = headers.get("X-Fbgw-Timestamp", "")
        want = "sha256=" + hmac.new(self.secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
        return fresh and hmac.compare_digest(want, headers.get("X-Fbgw-Signature", ""))

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        lane = request.headers.get("X-Fbgw-Lane", "")
        if not self.check(request.headers, body):
            self.bad_signatures += 1
            self.requests.append((401, lane, 0))
            return web.Response(status=401, text="bad signature")
        if lane in self.refuse_lanes:
            self.requests.append((403, lane, 0))
            return web.Response(status=403, text=f"lane {lane} refused")
        step = self.plan.pop(0) if self.plan else 200
        events = json.loads(body)
        if step == "stall":
            self.requests.append((0, lane, len(events)))
            await asyncio.sleep(3600)
        assert isinstance(step, int)
        self.requests.append((step, lane, len(events)))
        if 200 <= step < 300:
            for ev in events:
                try:
                    self._validator.validate(ev)
                except jsonschema.ValidationError as err:
                    self.schema_errors.append(f"{ev.get('kind')}: {err.message}")
                self.events.append(ev)
            if events and self.example is None:
                self.example = {
                    "headers": {k: v for k, v in request.headers.items() if k.startswith("X-")},
                    "body": events[:1],
                }
        self._changed.set()
        return web.Response(status=step, text="ok" if step < 300 else f"no ({step})")

    def traces(self) -> set[str]:
        return {ev["trace"] for ev in self.events if ev.get("trace")}

    async def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"condition not met within {timeout}s ({len(self.events)} events, {self.requests[-5:]})"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
