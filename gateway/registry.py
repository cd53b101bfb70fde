"""Registry of paired devices: who they are, where they are, and their secrets.

Kept in memory for lookups on the hot path; persisted with TinyDB through an atomic storage (temp file,
fsync, rename) with file mode 0600, because it holds BLE bindkeys. Writes run off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tinydb import TinyDB
from tinydb.storages import Storage

from core.atomic import make_dirs, write_atomic
from core.devices import Device
from core.secrets import add_secret
from core.signal import Signal

log = logging.getLogger(__name__)


class AtomicJSONStorage(Storage):
    """TinyDB storage that never leaves a half-written file behind."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw.strip():
            return None
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: registry root is not an object")
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        write_atomic(self.path, json.dumps(data, ensure_ascii=False, sort_keys=True).encode(), mode=0o600)

    def close(self) -> None:
        pass


ChangeKind = Literal["added", "replaced", "renamed", "moved", "updated", "removed"]


@dataclass(frozen=True, slots=True)
class DeviceChange:
    """A device was added, replaced, renamed, moved to another room, changed otherwise, or removed.

    ``before`` holds the fields that changed, as they were (empty for ``added``)."""

    kind: ChangeKind
    device: Device
    before: dict[str, Any] = field(default_factory=dict)


def _change(before: Device | None, after: Device) -> DeviceChange | None:
    """What an upsert of ``after`` over ``before`` amounts to (None: nothing the platform would see)."""
    if before is None:
        return DeviceChange("added", after)
    old, new = asdict(before), asdict(after)
    changed = {k: old[k] for k in new if k not in ("added_at", "secret") and old.get(k) != new[k]}
    if not changed:
        return None
    if "address" in changed or "type" in changed or "transport" in changed:
        return DeviceChange("replaced", after, changed)
    if "name" in changed:
        return DeviceChange("renamed", after, changed)
    if "room" in changed:
        return DeviceChange("moved", after, changed)
    return DeviceChange("updated", after, changed)


class DeviceRegistry:
    """Paired devices, looked up in memory, persisted atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._devices: dict[str, Device] = {}
        self._lock = asyncio.Lock()
        self._db: TinyDB | None = None
        #: Changes kept in memory because the card refused them (see :meth:`upsert`).
        self.unsaved = 0
        #: Every change once it is saved (the platform hears of it as a ``device.*`` event).
        self.changed: Signal[DeviceChange] = Signal("registry.changed")

    def open(self) -> None:
        """Load from disk (blocking; called once at start before the loop is busy)."""
        make_dirs(self.path.parent)
        self._db = TinyDB(str(self.path), storage=AtomicJSONStorage)
        for row in self._db.table("devices").all():
            dev = Device.from_dict(dict(row))
            self._devices[dev.id] = dev
            if dev.secret:
                add_secret(dev.secret)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def get(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def all(self, transport: str | None = None) -> list[Device]:
        return [d for d in self._devices.values() if transport is None or d.transport == transport]

    def __iter__(self) -> Iterator[Device]:
        return iter(list(self._devices.values()))

    def __len__(self) -> int:
        return len(self._devices)

    async def upsert(self, device: Device, *, must_persist: bool = True) -> None:
        """Add or replace a device; returns after it is on disk.

        ``must_persist=False`` is for what a driver knows from its own config at start (a wired input and its
        wiring): if the card refuses the write, the device is still used from memory (and the write retried
        with the next change), so a read-only card never silences a pull cord. A technician's pairing keeps
        the default and sees the error.
        """
        if device.secret:
            add_secret(device.secret)  # from now on, masked in every log line
        async with self._lock:
            before = self._devices.get(device.id)
            self._devices[device.id] = device
            try:
                await self._save(device.id, must_persist)
            except OSError:  # not saved, so not paired: memory goes back to what is on disk
                if before is None:
                    self._devices.pop(device.id, None)
                else:
                    self._devices[device.id] = before
                raise
        change = _change(before, device)
        if change is not None:
            self.changed.emit(change)

    async def update(self, device_id: str, *, must_persist: bool = True, **changes: Any) -> Device:
        """Change some fields (name, room, params...) of a known device (``must_persist``: see :meth:`upsert`)."""
        async with self._lock:
            dev = self._devices[device_id]
            for key in changes:
                if key not in Device.__dataclass_fields__ or key == "id":
                    raise KeyError(key)
            before = {key: getattr(dev, key) for key in changes}
            for key, value in changes.items():
                setattr(dev, key, value)
            try:
                await self._save(device_id, must_persist)
            except OSError:  # not saved: the change did not happen
                for key, value in before.items():
                    setattr(dev, key, value)
                raise
        changed = {k: v for k, v in before.items() if getattr(dev, k) != v}
        if changed:
            kind: ChangeKind = "renamed" if "name" in changed else "moved" if "room" in changed else "updated"
            self.changed.emit(DeviceChange(kind, dev, changed))
        return dev

    async def _save(self, device_id: str, must_persist: bool) -> None:
        try:
            await asyncio.to_thread(self._persist)
        except OSError as exc:
            if must_persist:
                raise
            self.unsaved += 1
            log.error("registry: %s kept in memory, not saved (%s); retried with the next change", device_id, exc)

    async def remove(self, device_id: str) -> Device | None:
        async with self._lock:
            dev = self._devices.pop(device_id, None)
            if dev is not None:
                await asyncio.to_thread(self._persist)
        if dev is not None:
            self.changed.emit(DeviceChange("removed", dev))
        return dev

    def _persist(self) -> None:
        # One storage write of the whole document (TinyDB's own layout), so a crash leaves old or new.
        assert self._db is not None, "registry not opened"
        rows = {str(i): asdict(d) for i, d in enumerate(self._devices.values(), start=1)}
        self._db.storage.write({"devices": rows})
        self._db.table("devices").clear_cache()  # the only table; its cache must not serve the old rows
