"""The ``inventory`` service: tells the platform which devices the home has, as Zigbee2MQTT users expect.

- ``device.added`` / ``device.removed`` / ``device.renamed`` / ``device.moved`` / ``device.replaced`` events
  (alert priority, through the outbox like any other) whenever the registry changes — on the technician's page,
  by a driver, or by remote config;
- the retained ``fbgw/v1/{gateway}/devices`` document, republished on every change and on every (re)connect;
- a retained ``fbgw/v1/{gateway}/devices/{id}/availability`` (``online`` / ``offline``) per device, cleared
  when the device is removed.

What the platform was last told is kept in ``inventory.json``; at start the registry is compared with it, so
devices added before this service started (drivers start first) or while the gateway was stopped are
reported too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.atomic import write_atomic
from core.devices import Device, DeviceRef
from core.events import Event, EventDraft, Priority
from drivers.base import ReadingRefused
from gateway import link
from gateway.inventory.document import availability, document
from gateway.registry import DeviceChange

if TYPE_CHECKING:
    from core.signal import Unsubscribe
    from gateway.context import ServiceContext

log = logging.getLogger(__name__)

#: Changes closer together than this are published as one document.
DEBOUNCE_S = 0.2
#: Registry changes the platform hears of as events (``updated`` is a driver's own bookkeeping).
EVENT_KINDS = {"added", "removed", "renamed", "moved", "replaced"}
#: Fields a lifecycle event reports as they were before.
BEFORE_KEYS = ("name", "room", "type", "transport", "address")


class Inventory:
    """See the module docstring."""

    name = "inventory"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.published = 0
        self._dirty: set[str] = set()  # device ids whose availability needs publishing
        self._cleared: set[str] = set()  # removed device ids whose retained availability must be cleared
        self._pending: asyncio.Task[None] | None = None
        self._again = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Unsubscribe] = []
        self.path = ctx.state_dir / KNOWN_FILE
        self._known: dict[str, dict[str, Any]] = {}
        self._save_lock = asyncio.Lock()

    async def start(self) -> None:
        self._known = await asyncio.to_thread(_load, self.path)
        for change in _differences(self._known, list(self.ctx.registry)):
            self._changed(change)
        if self._tasks:  # what changed while the gateway was down is committed before it counts as started
            await asyncio.wait(list(self._tasks))
        self._unsubscribe = [
            self.ctx.registry.changed.connect(self._changed),
            self.ctx.committed.connect(self._committed),
            self.ctx.uplink.on_connect(self._publish_all),
        ]
        if self.ctx.uplink.connected:
            await self._publish_all()

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        tasks = [*self._tasks, *([self._pending] if self._pending else [])]
        if tasks:
            await asyncio.wait(tasks, timeout=3)

    # ------------------------------------------------------------------ changes

    def _changed(self, change: DeviceChange) -> None:
        if change.kind == "removed":
            self._cleared.add(change.device.id)
            self._known.pop(change.device.id, None)
        else:
            self._dirty.add(change.device.id)
            self._known[change.device.id] = _summary(change.device)
        if change.kind in EVENT_KINDS:
            task = asyncio.get_running_loop().create_task(self._emit(change), name="inventory-event")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._soon()

    def _committed(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.kind in ("device.online", "device.offline") and event.device is not None:
                self._dirty.add(event.device.id)
                self._soon()

    async def _emit(self, change: DeviceChange) -> None:
        dev = change.device
        data: dict[str, Any] = {"name": dev.name, "room": dev.room, "type": dev.type, "transport": dev.transport}
        if change.kind == "added":
            data["capabilities"] = list(dev.capabilities)
        before = {k: v for k, v in change.before.items() if k in BEFORE_KEYS}
        if before:
            data["before"] = before
        try:
            await self.ctx.emit([EventDraft(f"device.{change.kind}", Priority.ALERT, DeviceRef.of(dev), data)])
        except ReadingRefused as exc:  # storage refused it (logged by the outbox): the retained list still tells
            log.error("inventory: device.%s of %s not stored: %s", change.kind, dev.id, exc)
            return
        await self._save()

    async def _save(self) -> None:
        """What the platform has been told, on disk (one writer at a time)."""
        async with self._save_lock:
            body = json.dumps(self._known, ensure_ascii=False, sort_keys=True).encode()
            try:
                await asyncio.to_thread(write_atomic, self.path, body)
            except OSError as exc:  # told again after a restart: a repeated event beats a missing one
                log.error("inventory: %s not saved: %s", self.path.name, exc)

    # ------------------------------------------------------------------ retained topics

    def _soon(self) -> None:
        """Publish shortly; a change during a publish in flight is published again right after it."""
        self._again = True
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self._publish_later(), name="inventory-publish")

    async def _publish_later(self) -> None:
        while self._again:
            await asyncio.sleep(DEBOUNCE_S)
            self._again = False
            await self._publish()

    async def _publish_all(self) -> None:
        """Every (re)connect: the whole document and every device's availability."""
        self._dirty.update(d.id for d in self.ctx.registry)
        await self._publish()

    async def _publish(self) -> None:
        topics = self.ctx.uplink.topics
        doc = document(self.ctx.gateway_id, self.ctx.registry, self.ctx.intake.seen, self.ctx.clock.wall_ms())
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        if not await link.publish(self.ctx.uplink, topics.devices, body, retain=True):
            return  # offline: the next connect publishes everything
        self.published += 1
        dirty, self._dirty = self._dirty, set()
        cleared, self._cleared = self._cleared, set()
        for device_id in sorted(dirty):
            state = availability(self.ctx.intake.seen.get(device_id))
            if not await link.publish(self.ctx.uplink, topics.availability(device_id), state.encode(), retain=True):
                self._dirty.add(device_id)
        for device_id in sorted(cleared):
            if not await link.publish(self.ctx.uplink, topics.availability(device_id), b"", retain=True):
                self._cleared.add(device_id)


KNOWN_FILE = "inventory.json"
_SUMMARY_KEYS = ("name", "room", "type", "transport", "address")


def _summary(device: Device) -> dict[str, Any]:
    return {k: getattr(device, k) for k in _SUMMARY_KEYS}


def _load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.error("inventory: %s unreadable (%s); every device is reported again", path.name, exc)
        return {}
    return {str(k): dict(v) for k, v in raw.items() if isinstance(v, dict)} if isinstance(raw, dict) else {}


def _differences(known: dict[str, dict[str, Any]], devices: list[Device]) -> list[DeviceChange]:
    """What changed since the platform was last told (devices added or removed while this service was not
    listening)."""
    out: list[DeviceChange] = []
    current = {d.id: d for d in devices}
    for device in devices:
        before = known.get(device.id)
        if before is None:
            out.append(DeviceChange("added", device))
            continue
        changed = {k: v for k, v in before.items() if getattr(device, k, v) != v}
        if {"address", "type", "transport"} & changed.keys():
            out.append(DeviceChange("replaced", device, changed))
        elif "name" in changed:
            out.append(DeviceChange("renamed", device, changed))
        elif "room" in changed:
            out.append(DeviceChange("moved", device, changed))
    for device_id, summary in known.items():
        if device_id not in current:
            gone = Device(device_id, str(summary.get("type", "")), str(summary.get("transport", "")))
            gone.name, gone.room = str(summary.get("name", "")), str(summary.get("room", ""))
            out.append(DeviceChange("removed", gone))
    return out
