"""The install access point ("hotspot"): a Wi-Fi network of the box's own while the install window is open.

For a home without a LAN (4G only): the technician holds the install button (whether or not the window is
already open), joins the Wi-Fi network printed on the box's label, and opens the page at the label's address.
It also opens by itself at first boot when the box has no network (neither the uplink nor NetworkManager)
within ``[hotspot] offline_after_s``, and it stops when the install window closes. Without NetworkManager or a
Wi-Fi device the gateway keeps running and says why in its status (``hotspot.reason``) and log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from core.signal import Signal
from gateway.hotspot.credentials import CredentialsError, WifiCredentials, load_or_create
from gateway.hotspot.nm import (
    STATE_CONNECTED_SITE,
    AccessPointRequest,
    ActiveAccessPoint,
    NetworkManagerClient,
    NetworkManagerError,
    NetworkManagerMissing,
    NoWifiDevice,
    WifiInUse,
)

if TYPE_CHECKING:
    from collections.abc import Coroutine, Sequence

    from core.events import Event
    from core.signal import Unsubscribe
    from gateway.context import ServiceContext
    from gateway.ports import InstallWindow

log = logging.getLogger(__name__)

BY_BUTTON = "install button"  # how the technician service names a window opened by the button
BUTTON_EVENT = "install.window_requested"
BY_FIRST_BOOT = "first boot"
OFFLINE_POLL_S = 5.0
STOP_TIMEOUT_S = 5.0


class HotspotService:
    """Starts and stops the access point as the install window opens and closes (one change at a time).

    ``state``: ``disabled`` (``[hotspot] enabled = false``), ``off``, ``on``, or ``unavailable`` with ``reason``.
    """

    name = "hotspot"

    def __init__(self, ctx: ServiceContext, window: InstallWindow, client: NetworkManagerClient | None = None) -> None:
        self.ctx = ctx
        self.window = window
        self.settings = ctx.config().hotspot
        self.client = client or NetworkManagerClient(self.settings.call_timeout_s)
        self.state = "off" if self.settings.enabled else "disabled"
        self.reason = ""
        #: Why it is unavailable, for the page's words: ``no_wifi_device``, ``no_networkmanager``,
        #: ``wifi_in_use``, ``credentials``, ``refused`` ("" when available).
        self.reason_code = ""
        self.interface = ""
        self.credentials: WifiCredentials | None = None
        #: Told ``True`` / ``False`` when the access point comes up / goes down.
        self.changed: Signal[bool] = Signal("hotspot.changed")
        self._ap: ActiveAccessPoint | None = None
        self._want = False
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._offline_watch: asyncio.Task[None] | None = None
        self._unsubscribe: list[Unsubscribe] = []

    async def start(self) -> None:
        if not self.settings.enabled:
            return
        try:
            self.credentials = await asyncio.to_thread(load_or_create, self.ctx.state_dir, self.ctx.gateway_id)
        except (CredentialsError, OSError) as exc:
            self._unavailable(f"access point name and password unavailable: {exc}", "credentials")
            return
        self._spawn(self._remove_stale(), "hotspot-cleanup")
        self._unsubscribe.append(self.window.window_changed.connect(self._window_changed))
        self._unsubscribe.append(self.ctx.committed.connect(self._on_committed))
        if self.window.window_is_open:  # first boot: the technician service opened it before we started
            self._window_changed(True)

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._want = False
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ap is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._down("gateway stopping"), STOP_TIMEOUT_S)
        self.client.close()

    def status(self) -> dict[str, Any]:
        """For ``/api/status`` and ``fbgw status``: never the password."""
        return {
            "state": self.state,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "ssid": self.credentials.ssid if self.credentials else None,
            "interface": self.interface,
            "address": self.settings.ip,
        }

    @property
    def is_on(self) -> bool:
        return self._ap is not None

    async def settle(self) -> None:
        """Wait until the changes asked for so far are done (tests, the HIL rig)."""
        while pending := [t for t in self._tasks if t is not self._offline_watch]:
            await asyncio.gather(*pending, return_exceptions=True)

    # ------------------------------------------------------------------ following the install window

    def _window_changed(self, is_open: bool) -> None:
        if not is_open:
            if self._offline_watch is not None:
                self._offline_watch.cancel()
                self._offline_watch = None
            self._set_wanted(False, "install window closed")
            return
        by = self.window.window_opened_by
        if by.startswith(BY_BUTTON) and self.settings.on_install_button:
            self._set_wanted(True, by)
        elif by == BY_FIRST_BOOT and self.settings.offline_after_s > 0:
            self._offline_watch = self._spawn(self._open_if_offline(), "hotspot-offline-watch")

    def _on_committed(self, events: Sequence[Event]) -> None:
        """The install button held while the window is already open (e.g. since first boot) opens no window,
        but the technician asked for the access point all the same."""
        if self.settings.on_install_button and any(ev.kind == BUTTON_EVENT for ev in events):
            self._spawn(self._button_held(), "hotspot-button")

    async def _button_held(self) -> None:
        await asyncio.sleep(0)  # the technician service opens the window on the same event
        if self.window.window_is_open and not self._want:
            self._set_wanted(True, "install button")

    async def _open_if_offline(self) -> None:
        """At first boot: open the access point unless a network appears within ``offline_after_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.offline_after_s
        while True:
            if await self._has_network():
                log.info("hotspot: the box has a network; no access point for the first-boot window")
                return
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.sleep(min(OFFLINE_POLL_S, left))
        if self.window.window_is_open:
            self._set_wanted(True, f"no network {self.settings.offline_after_s} s after first boot")

    async def _has_network(self) -> bool:
        if self.ctx.uplink.stats.state == "online":
            return True
        try:
            return await self.client.state() >= STATE_CONNECTED_SITE
        except NetworkManagerError:  # no NetworkManager: no way to tell; the access point will say why not
            return False

    def _set_wanted(self, want: bool, why: str) -> None:
        self._want = want
        self._spawn(self._apply(why), "hotspot-apply")

    async def _apply(self, why: str) -> None:
        async with self._lock:  # the last wish wins; one NetworkManager change at a time
            if self._want and self._ap is None:
                await self._up(why)
            elif not self._want and self._ap is not None:
                await self._down(why)

    async def _up(self, why: str) -> None:
        assert self.credentials is not None
        s = self.settings
        try:
            device, self.interface = await self.client.wifi_device(s.interface)
            req = AccessPointRequest(
                self.interface, self.credentials.ssid, self.credentials.password, s.ip, s.prefix, s.band
            )
            self._ap = await self.client.start_access_point(device, req)
        except NetworkManagerError as exc:
            self._unavailable(str(exc), _code(exc))
            return
        self.state, self.reason, self.reason_code = "on", "", ""
        log.warning(
            "hotspot: access point %r on %s, page at https://%s (%s)", self.credentials.ssid, self.interface, s.ip, why
        )
        self.changed.emit(True)

    async def _down(self, why: str) -> None:
        ap, self._ap = self._ap, None
        if ap is None:
            return
        try:
            await self.client.stop_access_point(ap)
        except NetworkManagerError as exc:
            log.error("hotspot: access point not stopped cleanly: %s", exc)
        if self.state == "on":
            self.state = "off"
        log.warning("hotspot: access point stopped (%s)", why)
        self.changed.emit(False)

    async def _remove_stale(self) -> None:
        async with self._lock:
            try:
                removed = await self.client.remove_stale()
            except NetworkManagerError as exc:
                self._unavailable(str(exc), _code(exc))
                return
            if removed:
                log.warning("hotspot: removed %d access point(s) left by an earlier run", removed)

    def _unavailable(self, reason: str, code: str) -> None:
        self.state, self.reason, self.reason_code = "unavailable", reason, code
        log.error("hotspot: no access point for the install window: %s", reason)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:  # a bug: seen, not fatal
            log.error("hotspot: %s failed", task.get_name(), exc_info=exc)


def _code(exc: NetworkManagerError) -> str:
    if isinstance(exc, NoWifiDevice):
        return "no_wifi_device"
    if isinstance(exc, WifiInUse):
        return "wifi_in_use"
    if isinstance(exc, NetworkManagerMissing):
        return "no_networkmanager"
    return "refused"
