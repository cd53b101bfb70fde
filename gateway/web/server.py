"""The local HTTP server: builds and runs the aiohttp application (a service, started after the others).

The core API (:mod:`gateway.web.core_api`) is always there. When the technician service ("web") runs, its
pages, JSON API, static files and the sign-in/CSRF guard are mounted too. Who wants to know where the server
listens (mDNS discovery) connects to :attr:`WebServer.listening`.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from core.signal import Signal
from gateway.web import core_api

if TYPE_CHECKING:
    from gateway.context import ServiceContext
    from gateway.web.service import TechnicianService

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SHUTDOWN_TIMEOUT_S = 2.0


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(ctx: ServiceContext, technician: TechnicianService | None, *, loopback_only: bool) -> web.Application:
    middlewares: list[Any] = []
    if technician is not None:
        from gateway.web.guard import make_guard

        middlewares.append(make_guard(technician))
    app = web.Application(client_max_size=ctx.config().http.max_body_bytes, middlewares=middlewares)
    core_api.setup(app, ctx, loopback_only=loopback_only)
    if technician is not None:
        _mount_technician(app, ctx, technician)
    return app


def _mount_technician(app: web.Application, ctx: ServiceContext, svc: TechnicianService) -> None:
    from gateway.web.api import Api
    from gateway.web.guard import security_headers
    from gateway.web.views import Views

    Views(ctx, svc).setup(app)
    Api(ctx, svc).setup(app)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False, append_version=False)
    app.on_response_prepare.append(security_headers)

    async def end_streams(_app: web.Application) -> None:  # live streams must not hold up shutdown
        svc.hub.close_all()

    app.on_shutdown.append(end_streams)


class WebServer:
    """The gateway's HTTP listener; ``port`` is the bound port (useful when configured as 0)."""

    name = "http"

    def __init__(self, ctx: ServiceContext, technician: TechnicianService | None) -> None:
        self.host = ctx.config().http.host
        self.port = ctx.config().http.port
        self.app = create_app(ctx, technician, loopback_only=self.loopback_only)
        #: Told ``(host, port)`` once the server listens.
        self.listening: Signal[tuple[str, int]] = Signal("http.listening")
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
        if self._runner.addresses:  # the port actually bound (the config may say 0: any free port)
            self.port = int(self._runner.addresses[0][1])
        log.info("http: listening on http://%s:%d/", self.host, self.port)
        self.listening.emit((self.host, self.port))

    @property
    def is_listening(self) -> bool:
        """True while the server accepts connections."""
        return self._runner is not None and bool(self._runner.addresses)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
