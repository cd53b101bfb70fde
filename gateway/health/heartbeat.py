"""The health heartbeat: one ``gateway.heartbeat`` event every ``[health] heartbeat_interval_s``.

It lets the platform tell "quiet home" from "dead gateway", and see trouble coming before it bites: a
growing outbox, flapping uplink, a filling SD card, a hot CPU, an unsynchronised clock, a device not
heard from or with a weak battery or signal. The first heartbeat goes out right after start, so a
restart is visible at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from core.events import EventDraft, Priority
from gateway import __version__
from gateway.health.system import read_system

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.context import ServiceContext
    from gateway.settings.health import HealthSettings

log = logging.getLogger(__name__)

KIND = "gateway.heartbeat"
#: Reading ``meta`` keys that describe radio signal, as drivers report them.
SIGNAL_KEYS = ("rssi", "lqi", "linkquality", "snr")


def device_health(ctx: ServiceContext, now: float | None = None) -> list[dict[str, Any]]:
    """Per paired device: when last heard, online, battery, signal (from the intake's memory)."""
    now = time.time() if now is None else now
    out = []
    for dev in ctx.registry:
        seen = ctx.intake.seen.get(dev.id)
        item: dict[str, Any] = {
            "id": dev.id,
            "room": dev.room,
            "transport": dev.transport,
            "last_seen_s": None,
            "online": None,
            "battery": None,
        }
        if seen is not None:
            if seen.last_seen:
                item["last_seen_s"] = max(0, int(now - seen.last_seen))
            item["online"] = seen.online
            item["battery"] = seen.values.get("battery", seen.meta.get("battery"))
            for key in SIGNAL_KEYS:
                if key in seen.meta:
                    item[key] = seen.meta[key]
        out.append(item)
    return sorted(out, key=lambda d: d["id"])


async def snapshot(ctx: ServiceContext, started_mono: float, settings: HealthSettings) -> dict[str, Any]:
    """The heartbeat's ``data``: gateway, outbox, uplink, clock, machine and devices."""
    status = ctx.status()
    system = await asyncio.to_thread(read_system, ctx.state_dir)
    uplink = status["uplink"]
    depth = status["outbox"]
    data: dict[str, Any] = {
        "version": __version__,
        "uptime_s": int(time.monotonic() - started_mono),
        "outbox": {k: depth.get(k) for k in ("rows", "bytes", "alarms", "oldest_age_s", "dropped", "last_error")},
        "uplink": {
            k: uplink.get(k)
            for k in (
                "state",
                "profile",
                "connects",
                "reconnects",
                "published_events",
                "last_error",
                "permanent_error",
            )
        },
        # Platform messages dropped unhandled per topic (queue full, over the rate, too large): a flood shows here.
        "inbound_dropped": {
            topic: c["queue_full"] + c["rate_limited"] + c["too_large"]
            for topic, c in uplink.get("inbound", {}).items()
        },
        "clock": {"synced": ctx.clock.synced()},
        "drivers": [
            {"transport": d["transport"], "state": d["state"], "detail": d["detail"]} for d in status["drivers"]
        ],
        **system,
    }
    if settings.heartbeat_devices:
        data["devices"] = device_health(ctx)
    return data


class HeartbeatService:
    """Emits the heartbeat on a fixed period; the period follows config changes without a restart."""

    name = "heartbeat"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.settings = ctx.config().health
        self.started_mono = time.monotonic()
        self.sent = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = self.ctx.supervise(self._run(), name="heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def reconfigure(self, config: Config) -> None:
        if config.health != self.settings:
            self.settings = config.health
            self._changed.set()

    async def beat(self) -> None:
        """Emit one heartbeat now (also used by tests and the technician's tools)."""
        priority = Priority.from_label(self.settings.heartbeat_priority)
        data = await snapshot(self.ctx, self.started_mono, self.settings)
        try:
            await self.ctx.emit([EventDraft(KIND, priority, None, data)])
        except RuntimeError as exc:  # OutboxError: storage trouble is reported by the storage monitor
            log.warning("heartbeat not stored: %s", exc)
            return
        self.sent += 1

    async def _run(self) -> None:
        while True:
            interval = self.settings.heartbeat_interval_s
            if interval > 0:
                await self.beat()
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), interval if interval > 0 else None)
