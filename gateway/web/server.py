"""The local HTTP server: builds and runs the aiohttp application (a service, started after the others).

The core API (:mod:`gateway.web.core_api`) is always there. When the technician service ("web") runs, its
pages, JSON API, static files and the sign-in/CSRF guard are mounted too. With ``[http] https_listen`` the same
application is also served over HTTPS with the box's own certificate (:mod:`gateway.web.tls`): on a box that is
the technician's way in, and plain HTTP stays on loopback for local tools. Who wants to know where the page
is offered (mDNS discovery) connects to :attr:`WebServer.listening`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from core.signal import Signal
from gateway.web import core_api
from gateway.web.tls import BoxCertificate, ensure_certificate

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
        self.ctx = ctx
        http = ctx.config().http
        self.host = http.host
        self.port = http.port
        self.https_host = http.https_host
        #: The HTTPS port once bound (None: no HTTPS).
        self.https_port = http.https_port
        #: The box's certificate once HTTPS listens (its fingerprint is in the status).
        self.certificate: BoxCertificate | None = None
        #: Why HTTPS is not listening although configured ("" when it is, or is not configured).
        self.https_error = ""
        self.app = create_app(ctx, technician, loopback_only=self.loopback_only)
        #: Told ``(host, port)`` once the server listens: the HTTPS listener when there is one (that is where
        #: the technician's page is offered), else the plain one.
        self.listening: Signal[tuple[str, int]] = Signal("http.listening")
        self._runner: web.AppRunner | None = None

    @property
    def loopback_only(self) -> bool:
        """Every listener is on loopback (the simulated-readings hook needs it)."""
        return is_loopback_host(self.host) and (self.https_host is None or is_loopback_host(self.https_host))

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await self._runner.setup()
        # HTTPS first: once plain HTTP answers (what local tools and tests wait for), the page is up too
        if self.https_host is not None and self.https_port is not None:
            try:
                await self._start_https(self._runner, self.https_host, self.https_port)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError; alarms do not need the page
                self.https_error = str(exc) or type(exc).__name__
                log.error("https: not listening on %s: %s", self.ctx.config().http.https_listen, self.https_error)
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        # the port actually bound (the config may say 0: any free port); the HTTPS socket is listed first
        bound = [int(a[1]) for a in self._runner.addresses if isinstance(a, tuple) and int(a[1]) != self.https_port]
        if bound:
            self.port = bound[-1]
        log.info("http: listening on http://%s:%d/", self.host, self.port)
        if self.certificate is not None and self.https_host is not None and self.https_port is not None:
            self.listening.emit((self.https_host, self.https_port))
        else:
            self.listening.emit((self.host, self.port))

    @property
    def page_scheme(self) -> str:
        return "https" if self.certificate is not None else "http"

    def https_status(self) -> dict[str, Any] | None:
        """For ``/api/status``: where HTTPS listens and the certificate's fingerprint (None: not configured)."""
        if self.https_host is None:
            return None
        fp = self.certificate.fingerprint if self.certificate is not None else None
        return {"port": self.https_port, "fingerprint_sha256": fp, "error": self.https_error}

    async def _start_https(self, runner: web.AppRunner, host: str, port: int) -> None:
        """The same application over TLS with the box's certificate (made now if provisioning did not)."""
        addresses = [self.ctx.config().hotspot.ip]
        cert = await asyncio.to_thread(ensure_certificate, self.ctx.state_dir, self.ctx.gateway_id, addresses)
        context = await asyncio.to_thread(cert.server_context)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)  # our socket: its bound port is known
        try:
            await web.SockSite(runner, sock, ssl_context=context).start()
        except BaseException:
            sock.close()
            raise
        self.https_port = int(sock.getsockname()[1])
        self.certificate = cert
        log.info("https: listening on https://%s:%d/ (certificate SHA-256 %s)", host, self.https_port, cert.fingerprint)

    @property
    def is_listening(self) -> bool:
        """True while the server accepts connections."""
        return self._runner is not None and bool(self._runner.addresses)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
