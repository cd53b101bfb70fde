"""The ``self_test`` command: radios, storage, uplink and time, each a check with ``ok`` and details."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import atomic

if TYPE_CHECKING:
    from gateway.context import ServiceContext


def _probe_storage(state_dir: Path, min_free: int) -> dict[str, Any]:
    """Write, fsync, read back and remove a small file in the state directory; report free space."""
    probe = state_dir / "remote" / ".selftest"
    data = os.urandom(64)
    started = time.monotonic()
    try:
        atomic.write_atomic(probe, data, 0o600)
        ok = probe.read_bytes() == data
        probe.unlink()
        error = "" if ok else "read back different bytes"
    except OSError as exc:
        ok, error = False, f"{type(exc).__name__}: {exc.strerror or exc}"
    usage = shutil.disk_usage(state_dir)
    return {
        "ok": ok and usage.free >= min_free,
        "writable": ok,
        "error": error,
        "write_ms": round((time.monotonic() - started) * 1000, 1),
        "free_bytes": usage.free,
        "total_bytes": usage.total,
    }


async def self_test(ctx: ServiceContext) -> dict[str, Any]:
    """Run every check; ``ok`` is true only when all of them pass."""
    radios = [
        {"transport": h.transport, "state": h.state, "detail": h.detail, "ok": h.state == "up"}
        for h in ctx.driver_health()
    ]
    storage = await asyncio.to_thread(_probe_storage, ctx.state_dir, ctx.config().health.storage_min_free_bytes)
    storage["outbox"] = ctx.outbox.depth()
    up = ctx.uplink.stats
    uplink = {
        "ok": ctx.uplink.connected,
        "state": up.state,
        "broker": ctx.config().uplink.broker,
        "connects": up.connects,
        "reconnects": up.reconnects,
        "last_error": up.last_error,
    }
    synced = ctx.clock.synced()
    clock = {"ok": synced, "synced": synced, "wall_ms": ctx.clock.wall_ms()}
    checks = {
        "radios": {"ok": all(r["ok"] for r in radios), "drivers": radios},
        "storage": storage,
        "uplink": uplink,
        "time": clock,
    }
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
