"""mDNS advertisement of the technician's page: ``fbgw-<id>.local``, ``_http._tcp`` (``_https._tcp`` when the
page is served over HTTPS) with TXT id/version.

A technician's phone finds the gateway without knowing its address. The service registers once the web
server has bound its port (:attr:`gateway.ports.HttpEndpoint.listening`), in the background so a slow mDNS probe
never holds up the gateway. It advertises where the page listens: a loopback listener only on 127.0.0.1
(tests, development), a wildcard listener on every interface, or the interfaces in ``[web]
discovery_interfaces``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from typing import TYPE_CHECKING, Any

import psutil

from gateway import __version__

if TYPE_CHECKING:
    from zeroconf import ServiceInfo
    from zeroconf.asyncio import AsyncZeroconf

    from core.signal import Unsubscribe
    from gateway.context import ServiceContext
    from gateway.ports import HttpEndpoint, InstallWindow

log = logging.getLogger(__name__)

SERVICE_TYPE = "_http._tcp.local."
HTTPS_SERVICE_TYPE = "_https._tcp.local."
REGISTER_TIMEOUT_S = 10.0


def instance_name(gateway_id: str) -> str:
    return f"fbgw-{gateway_id}"


def host_addresses() -> list[str]:
    """Every non-loopback IPv4 address of this host (blocking; cheap)."""
    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback:
                out.append(a.address)
    return out


def plan(listen_host: str, configured: list[str]) -> tuple[Any, list[str]]:
    """(zeroconf ``interfaces`` argument, addresses to publish) for where the page listens."""
    if configured:
        return list(configured), list(configured)
    from zeroconf import InterfaceChoice

    if listen_host in ("0.0.0.0", "", "::"):
        return InterfaceChoice.All, host_addresses()
    try:
        ip = ipaddress.ip_address(listen_host)
    except ValueError:  # a host name: publish every address
        return InterfaceChoice.All, host_addresses()
    if ip.is_loopback:
        return ["127.0.0.1"], ["127.0.0.1"]
    return [str(ip)], [str(ip)]


class DiscoveryService:
    name = "discovery"

    def __init__(self, ctx: ServiceContext, window: InstallWindow | None, http: HttpEndpoint) -> None:
        """``window``: advertise only while it is open (None: no technician page, advertise always)."""
        self.ctx = ctx
        self.window = window
        self.http = http
        self._unsubscribe: list[Unsubscribe] = []
        self._listen: tuple[str, int] | None = None
        self.enabled = self.ctx.config().web.discovery
        self.configured = list(self.ctx.config().web.discovery_interfaces)
        self.zc: AsyncZeroconf | None = None
        self.info: ServiceInfo | None = None
        self._task: asyncio.Task[None] | None = None
        self.registered = asyncio.Event()
        self.error = ""

    async def start(self) -> None:
        """Nothing to advertise yet: the port is known only once the web server is up."""
        if self.enabled:
            self._unsubscribe.append(self.http.listening.connect(self._http_started))

    def _http_started(self, where: tuple[str, int]) -> None:
        """Advertise while the install window is open: the page is usable only then, and a box that does not
        announce itself the rest of the time is less exposed on the home network (zeroconf loads only then)."""
        self._listen = where
        if self.window is None:  # no technician page: advertise for as long as we run
            self._advertise(True)
            return
        self._unsubscribe.append(self.window.window_changed.connect(self._advertise))
        if self.window.window_is_open:
            self._advertise(True)

    def _advertise(self, on: bool) -> None:
        if self._listen is None:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()
        job = self._register(*self._listen) if on else self._unregister()
        self._task = asyncio.get_running_loop().create_task(job, name="mdns-register" if on else "mdns-unregister")

    async def _unregister(self) -> None:
        zc, self.zc = self.zc, None
        if zc is None:
            return
        with contextlib.suppress(OSError, TimeoutError):
            if self.registered.is_set() and self.info is not None:
                await asyncio.wait_for(zc.async_unregister_service(self.info), 3.0)
        self.registered.clear()
        await zc.async_close()
        log.info("mdns: advertisement withdrawn (install window closed)")

    async def _register(self, host: str, port: int) -> None:
        from zeroconf import IPVersion, NonUniqueNameException, ServiceInfo
        from zeroconf.asyncio import AsyncZeroconf

        if self.zc is not None:
            return
        interfaces, addresses = plan(host, self.configured)
        if not addresses:
            self.error = "no IPv4 address to advertise"
            log.warning("mdns: %s", self.error)
            return
        name = instance_name(self.ctx.gateway_id)
        kind = HTTPS_SERVICE_TYPE if self.http.page_scheme == "https" else SERVICE_TYPE
        self.info = ServiceInfo(
            kind,
            f"{name}.{kind}",
            port=port,
            addresses=[socket.inet_aton(a) for a in addresses],
            server=f"{name}.local.",
            properties={"id": self.ctx.gateway_id, "version": __version__, "path": "/"},
        )
        try:
            self.zc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
            pending = await self.zc.async_register_service(self.info, allow_name_change=True)
            await asyncio.wait_for(pending, REGISTER_TIMEOUT_S)
        except (OSError, NonUniqueNameException, TimeoutError) as exc:
            self.error = str(exc) or type(exc).__name__
            log.warning("mdns: advertisement failed: %s", self.error)
            return
        self.registered.set()
        log.info("mdns: advertising %s on %s port %d", self.info.name, ", ".join(addresses), port)

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._unregister()
