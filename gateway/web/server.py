"""Builds and runs the aiohttp application for a gateway.

The core API (:mod:`gateway.web.core_api`) is always there. When the technician service ("web") runs, its
pages, JSON API, static files and the sign-in/CSRF guard are mounted too. Services that want to know where
the server listens (mDNS discovery) implement ``async http_started(host, port)``.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.web import core_api

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger(__name__)

GATEWAY_KEY: web.AppKey[Gateway] = web.AppKey("gateway", object)  # type: ignore[arg-type]
STATIC_DIR = Path(__file__).parent / "static"
SHUTDOWN_TIMEOUT_S = 2.0


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(gw: Gateway) -> web.Application:
    from gateway.web.service import TechnicianService

    svc = gw.service("web")
    middlewares: list[Any] = []
    if isinstance(svc, TechnicianService):
        from gateway.web.guard import make_guard

        middlewares.append(make_guard(svc))
    app = web.Application(client_max_size=gw.config.http.max_body_bytes, middlewares=middlewares)
    app[GATEWAY_KEY] = gw
    core_api.setup(app, gw)
    if isinstance(svc, TechnicianService):
        _mount_technician(app, gw, svc)
    return app


def _mount_technician(app: web.Application, gw: Gateway, svc: object) -> None:
    from gateway.web.api import Api
    from gateway.web.guard import security_headers
    from gateway.web.service import TechnicianService
    from gateway.web.views import Views

    assert isinstance(svc, TechnicianService)
    Views(gw, svc).setup(app)
    Api(gw, svc).setup(app)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False, append_version=False)
    app.on_response_prepare.append(security_headers)

    async def end_streams(_app: web.Application) -> None:  # live streams must not hold up shutdown
        svc.hub.close_all()

    app.on_shutdown.append(end_streams)


class WebServer:
    """The gateway's HTTP listener; ``port`` is the bound port (useful when configured as 0)."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.host = gw.config.http.host
        self.port = gw.config.http.port
        self.app = create_app(gw)
        self._runner: web.AppRunner | None = None

    @property
    def loopback_only(self) -> bool:
        return is_loopback_host(self.host)

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        if server is not None and server.sockets:  # type: ignore[attr-defined,union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined,union-attr]
        log.info("http: listening on http://%s:%d/", self.host, self.port)
        for service in self.gw.services:
            hook = getattr(service, "http_started", None)
            if hook is not None:
                await hook(self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
