"""The technician service ("web"): sign-in code, sessions, install window, and the live state pages show.

Other services reach it through ports wired in :mod:`gateway.services`:

- :class:`gateway.ports.InstallWindow` — a platform command or a long press of the install button opens the
  window; mDNS advertises while it is open;
- :class:`gateway.ports.InstallerCode` — a code issued by the platform (only its hash is stored);
- :attr:`TechnicianService.signin_code_for_console` — the code generated at first boot, for the demo console.

The HTTP routes live in :mod:`gateway.web.views` and :mod:`gateway.web.api`; the server mounts them when
this service is running.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.events import Event
from core.secrets import add_secret
from core.signal import Signal, Unsubscribe
from drivers.base import PairingUpdate
from gateway.outbox import Row
from gateway.settings.web import WebSettings
from gateway.web import acceptance
from gateway.web.auth import LoginLimiter, Sessions
from gateway.web.i18n import is_raw_name, reason_key
from gateway.web.live import LiveHub
from gateway.web.pairing import PairingState
from gateway.web.record import RECORD_FILE, InstallRecord
from gateway.web.signin_code import CodeError, CodeStore
from gateway.web.testmode import TestTracker
from gateway.web.window import InstallWindow, first_boot

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.context import ServiceContext
    from gateway.ports import TestModeSwitch

log = logging.getLogger(__name__)

HISTORY_LEN = 50


class TechnicianService:
    name = "web"

    def __init__(self, ctx: ServiceContext, test_mode: TestModeSwitch | None = None) -> None:
        self.ctx = ctx
        #: Installation test mode (the test page's button); None: not offered.
        self.test_mode = test_mode
        self.settings: WebSettings = self.ctx.config().web
        s = self.settings
        self.codes = CodeStore(self.ctx.state_dir, s.installer_code_hash)
        self.sessions = Sessions(s.session_lifetime_s)
        self.limiter = LoginLimiter(s.login_max_failures, s.login_max_failures_total, s.login_window_s)
        self.window = InstallWindow(s.install_window_max_s, self._window_changed)
        #: Told ``True``/``False`` when the install window opens/closes (mDNS advertises only while open).
        self.window_changed: Signal[bool] = Signal("web.window")
        self.hub = LiveHub()
        self.pairing: dict[str, PairingState] = {}
        #: Per transport: devices of the current pairing session that had a name given before they (re)joined.
        self._known_names: dict[str, dict[str, str]] = {}
        #: What was done in this home (tests, confirmations, names): kept across windows and restarts.
        self.record = InstallRecord(self.ctx.state_dir / RECORD_FILE)
        #: The last events of each device, for its page (newest last).
        self.history: dict[str, deque[dict[str, Any]]] = {}
        self.profile: acceptance.CountyProfile | None = None
        self.profile_error = ""
        #: The plain installer code if it was generated during this run (first boot), else None.
        self.signin_code_for_console: str | None = None
        self._code_lock = asyncio.Lock()
        self._unsubscribe: list[Unsubscribe] = []

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        try:
            self.signin_code_for_console = await asyncio.to_thread(
                self.codes.load_or_create, self.settings.generated_code_digits
            )
        except (CodeError, OSError) as exc:  # the page stays closed; everything else keeps running
            log.error("installer code unavailable, sign-in disabled: %s", exc)
        if self.signin_code_for_console:
            self._announce_code(self.signin_code_for_console)
        await self._load_profile()
        await asyncio.to_thread(self.record.load)

        self._unsubscribe = [
            self.ctx.pairing.connect(self._on_pairing),
            self.ctx.committed.connect(self._on_committed),
            self.ctx.delivered.connect(self._on_delivered),
        ]
        if self.settings.open_on_first_boot and await asyncio.to_thread(first_boot, self.ctx.state_dir):
            self.open_install_window(self.settings.install_window_s, by="first boot")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self.window.close("closed (gateway stopping)")
        self.hub.close_all()
        await self.record.flush()
        await self.record.save()

    def _announce_code(self, code: str) -> None:
        """A new code is never logged (logs leave the box); it is shown only on an interactive terminal.

        Under systemd a technician gets the code from the platform, or makes a new one on the box with
        ``python -m gateway.web.signin_code reset``.
        """
        add_secret(code)
        log.warning(
            "a new installer sign-in code was generated for gateway %s (only its hash is stored)", self.ctx.gateway_id
        )
        if sys.stdout.isatty():
            print(f"installer sign-in code for gateway {self.ctx.gateway_id}: {code}", flush=True)

    async def reconfigure(self, config: Config) -> None:
        old, new = self.settings, config.web
        self.settings = new
        self.sessions.lifetime_s = new.session_lifetime_s
        self.limiter.per_peer = new.login_max_failures
        self.limiter.total = new.login_max_failures_total
        self.limiter.window_s = new.login_window_s
        self.window.max_s = new.install_window_max_s
        if new.installer_code_hash != old.installer_code_hash:
            self.codes = CodeStore(self.ctx.state_dir, new.installer_code_hash)
            code = await asyncio.to_thread(self.codes.load_or_create, new.generated_code_digits)
            if code:
                self.signin_code_for_console = code
                self._announce_code(code)
            self.sessions.end_all()
        if (new.county, new.counties_dir) != (old.county, old.counties_dir):
            await self._load_profile()

    async def _load_profile(self) -> None:
        try:
            self.profile = await asyncio.to_thread(
                acceptance.load_profile, self.settings.county, self.settings.counties_dir
            )
            self.profile_error = ""
        except acceptance.ProfileError as exc:
            self.profile, self.profile_error = None, str(exc)
            log.error("%s", exc)

    # ------------------------------------------------------------------ for other parts of the gateway

    def open_install_window(self, seconds: float | None = None, by: str = "platform") -> int:
        """Open the install window for ``seconds`` (default ``[web] install_window_s``, capped by
        ``install_window_max_s``). Returns the seconds granted. Raises ValueError for ``seconds <= 0``."""
        return self.window.open(self.settings.install_window_s if seconds is None else seconds, by)

    def check_county(self, county: str, directory: Path | None) -> None:
        """The :class:`gateway.ports.CountyProfiles` port: ``ProfileError`` (a ValueError) if not usable."""
        acceptance.load_profile(county, directory)

    @property
    def window_is_open(self) -> bool:
        return self.window.is_open

    @property
    def window_opened_by(self) -> str:
        return self.window.opened_by

    def close_install_window(self) -> None:
        """Close the window now; every signed-in session ends."""
        self.window.close("closed on request")

    async def set_installer_code(self, code: str) -> None:
        """Replace the installer code (e.g. issued by the platform). Only its hash is stored.

        Raises :class:`gateway.web.signin_code.CodeError` for an unusable code. Ends every session."""
        code = code.strip()
        if not 6 <= len(code) <= 64 or not code.isprintable():
            raise CodeError("an installer code must be 6-64 printable characters")
        async with self._code_lock:
            await asyncio.to_thread(self.codes.replace, code)
        self.signin_code_for_console = None
        self.sessions.end_all()
        log.warning("installer code replaced")

    async def check_code(self, code: str) -> bool:
        async with self._code_lock:
            try:
                return await asyncio.to_thread(self.codes.check, code)
            except CodeError as exc:
                log.error("%s", exc)
                return False

    # ------------------------------------------------------------------ listeners (never block)

    def _window_changed(self, is_open: bool) -> None:
        self.window_changed.emit(is_open)
        if not is_open:  # the installation record stays: a reopened window carries on where it stopped
            self.sessions.end_all()
            self.hub.close_all()

    def _on_pairing(self, update: PairingUpdate) -> None:
        state = self.pairing.setdefault(update.transport, PairingState(update.transport))
        known = self._known_names.setdefault(update.transport, {})
        if update.stage == "open":
            known.clear()
        if update.device and update.device not in known:  # a device that was already named before it rejoined
            dev = self.ctx.registry.get(update.device)
            given = dev is not None and (dev.id in self.record.named or not is_raw_name(dev.name, dev.id, dev.address))
            known[update.device] = dev.name if dev is not None and given else ""
        state.apply(update)
        self.hub.publish("pairing", self.pairing_state(update.transport) | {"stage": update.stage})

    def _on_committed(self, events: Sequence[Event]) -> None:
        for ev in events:
            if ev.kind == "install.window_requested":  # the install button was held (already on disk)
                self.open_install_window(by=f"install button {ev.device.id if ev.device else ''}".strip())
            if ev.device is not None:
                past = self.history.setdefault(ev.device.id, deque(maxlen=HISTORY_LEN))
                past.append({"kind": ev.kind, "at": time.time(), "seq": ev.seq, "priority": ev.priority.label})
        if not self.window.is_open or not self.ctx.started.is_set():
            return  # what the gateway itself says while it starts (devices registered by drivers) is no test
        changed = False
        for rec in self.tests.committed(events):
            dev = self.ctx.registry.get(rec.device) if rec.device else None
            changed |= rec.action and rec.device is not None
            name = "" if dev is None or is_raw_name(dev.name, dev.id, dev.address) else dev.name
            self.hub.publish("event", {**rec.as_json(), "name": name, "type": dev.type if dev else None})
        if changed:
            self.record.save_soon()

    def _on_delivered(self, rows: Sequence[Row]) -> None:
        sub = self.record.submitted
        if sub is not None and sub.delivered_at is None and any(r.seq == sub.seq for r in rows):
            sub.delivered_at = time.time()
            self.record.save_soon()
            self.hub.publish("submitted", {"event": sub.event, "delivered_at": sub.delivered_at})
        if not self.window.is_open:
            return
        was = self.tests.uplink_verified_at
        for rec in self.tests.delivered(rows):
            self.hub.publish("delivered", rec.as_json())
        if was is None and self.tests.uplink_verified_at is not None:
            self.record.save_soon()

    # ------------------------------------------------------------------ views of the state

    def pairing_state(self, transport: str) -> dict[str, Any]:
        """The transport's pairing session, with a card per joining device: the steps it went through
        (joined, interview, enrolled, ready), why it failed, and whether it is named yet. The drivers' English
        details are turned into reason keys the page translates."""
        st = self.pairing.setdefault(transport, PairingState(transport)).as_json()
        cards: dict[str, dict[str, Any]] = {}
        failed = None
        for entry in st["log"]:
            dev_id = entry["device"]
            if not dev_id:
                if entry["stage"] == "failed":
                    failed = reason_key(str(entry["detail"] or ""))
                continue
            card = cards.setdefault(dev_id, {"device": dev_id, "steps": [], "failed": None, "type": None})
            if entry["stage"] not in card["steps"]:
                card["steps"].append(entry["stage"])
            if entry["stage"] == "failed":
                card["failed"] = reason_key(str(entry["detail"] or ""))
            if entry["info"].get("type"):
                card["type"] = entry["info"]["type"]
        known = self._known_names.get(transport, {})
        for card in cards.values():
            dev = self.ctx.registry.get(card["device"])
            card["known"] = dev is not None
            if dev is not None:
                # named on this page (now or before it rejoined); a radio's own name ("vendor model") is not one
                card["named"] = dev.id in self.record.named or bool(known.get(dev.id))
                card["type"] = dev.type
                card["name"] = dev.name if card["named"] else ""
                card["room"] = dev.room
            else:
                card |= {"name": "", "room": "", "named": False}
        st["cards"] = list(cards.values())
        st["failed"] = failed
        # the page shows steps and reasons, never a driver's own words
        st["log"] = [
            {k: v for k, v in e.items() if k != "detail"} | {"info": {"type": e["info"].get("type")}} for e in st["log"]
        ]
        return st

    @property
    def tests(self) -> TestTracker:
        return self.record.tests

    def checklist(self, lang: str) -> dict[str, Any] | None:
        if self.profile is None:
            return None
        online = self.ctx.uplink.stats.state == "online"
        return acceptance.evaluate(self.profile, self.ctx.registry, self.tests, self.record.manual, online, lang)
