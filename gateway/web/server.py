"""Builds and runs the aiohttp application for a gateway."""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.web import core_api

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger(__name__)

GATEWAY_KEY: web.AppKey[Gateway] = web.AppKey("gateway", object)  # type: ignore[arg-type]


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(gw: Gateway) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[GATEWAY_KEY] = gw
    core_api.setup(app, gw)
    return app


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
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        if server is not None and server.sockets:  # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("http: listening on http://%s:%d/", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
