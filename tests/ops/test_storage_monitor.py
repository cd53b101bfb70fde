"""The storage monitor on a real, small filesystem: degraded when it fills, restored when space returns."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.config import Config
from gateway.health.storage import StorageMonitor, outbox_storage_error
from gateway.health.system import DiskState
from tests.ops.conftest import SmallDisk
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)
MB = 1024 * 1024
HEALTH = {
    "heartbeat_interval_s": 0,
    "storage_check_s": 0.1,
    "storage_min_free_bytes": 2 * MB,
    "storage_recover_free_bytes": 3 * MB,
}


def of_kind(col: Collector, kind: str) -> list[dict]:
    return [ev for ev in col.events if ev["kind"] == kind]


async def test_low_space_degraded_then_restored(small_disk: SmallDisk, broker: Mosquitto) -> None:
    cfg = make_config(small_disk.path / "state", broker.url, health=HEALTH)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        await gw.drivers["sim"].inject("btn-1", "press", True, trace="before")
        await col.wait_for(lambda c: "before" in c.traces())
        assert of_kind(col, "gateway.storage_degraded") == []

        small_disk.fill(leave_bytes=int(1.5 * MB))
        await col.wait_for(lambda c: bool(of_kind(c, "gateway.storage_degraded")), timeout=5)
        (degraded,) = of_kind(col, "gateway.storage_degraded")
        assert degraded["priority"] == "alert"
        assert degraded["data"]["reasons"] == ["low_space"]
        assert degraded["data"]["disk"]["free_bytes"] < 2 * MB

        # Between the two thresholds: still degraded, no flapping.
        small_disk.release()
        small_disk.fill(leave_bytes=int(2.5 * MB))
        await gw.drivers["sim"].inject("btn-2", "press", True, trace="during")
        await col.wait_for(lambda c: "during" in c.traces())
        assert of_kind(col, "gateway.storage_restored") == []

        small_disk.release()
        await col.wait_for(lambda c: bool(of_kind(c, "gateway.storage_restored")), timeout=5)
        (restored,) = of_kind(col, "gateway.storage_restored")
        assert restored["data"]["was"] == ["low_space"]
        assert restored["data"]["degraded_for_s"] >= 0
        assert restored["seq"] > degraded["seq"]
        assert len(of_kind(col, "gateway.storage_degraded")) == 1


def test_assess_reasons_and_hysteresis(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "mqtt://127.0.0.1:1", health=HEALTH)

    class _Ctx:  # only what assess() reads
        @staticmethod
        def config() -> Config:
            return cfg

    monitor = StorageMonitor(_Ctx())  # type: ignore[arg-type]
    roomy = DiskState("/x", 10 * MB, 20 * MB, False)
    middle = DiskState("/x", int(2.5 * MB), 20 * MB, False)
    assert monitor.assess(roomy, None, degraded_now=False) == []
    assert monitor.assess(middle, None, degraded_now=False) == []
    assert monitor.assess(middle, None, degraded_now=True) == ["low_space"]
    assert monitor.assess(DiskState("/x", 10 * MB, 20 * MB, True), None, False) == ["read_only"]
    assert monitor.assess(roomy, "OperationalError: database or disk is full", False) == ["disk_full"]
    assert monitor.assess(None, None, False) == ["unreadable"]
    assert outbox_storage_error("OperationalError: attempt to write a readonly database") == "read_only"
    assert outbox_storage_error("OperationalError: no such table: outbox") is None
    assert outbox_storage_error(None) is None
