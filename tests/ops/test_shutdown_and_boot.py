"""Real ``fbgw run`` processes: SIGTERM under load, corrupt files at boot, a full disk, secrets in logs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.conftest import SmallDisk
from tests.ops.process import Load, OpsGateway, post_readings, write_config
from tests.support.broker import Mosquitto
from tests.support.collector import Collector

pytestmark = pytest.mark.timeout(120)
TIMEOUT_STOP_S = 30  # systemd/fbgw.service TimeoutStopSec


@pytest.fixture
def gateways() -> Iterator[list[OpsGateway]]:
    """Every gateway process a test starts is killed at the end, whatever happened."""
    started: list[OpsGateway] = []
    yield started
    for gw in started:
        gw.stop()


def launch(gateways: list[OpsGateway], cfg: Path, log: Path, **kw: object) -> OpsGateway:
    gw = OpsGateway(cfg, log, **kw)  # type: ignore[arg-type]
    gateways.append(gw)
    gw.start()
    return gw


async def test_sigterm_under_load_loses_nothing(tmp_path: Path, broker: Mosquitto, gateways: list[OpsGateway]) -> None:
    cfg = write_config(tmp_path / "gw.toml", tmp_path / "state", broker.url)
    log = tmp_path / "gw.log"
    async with Collector(broker.host, broker.port) as col:
        gw = launch(gateways, cfg, log)
        with Load(gw.base_url) as load:
            await asyncio.sleep(1.5)
            assert len(load.accepted) > 100, (load.accepted, load.refused)
            t0 = time.monotonic()
            code = await asyncio.to_thread(gw.terminate, TIMEOUT_STOP_S)
            stop_s = time.monotonic() - t0
        assert code == 0, log.read_text()[-3000:]
        assert stop_s < TIMEOUT_STOP_S / 3, f"shutdown took {stop_s:.1f}s"
        accepted = set(load.accepted)
        launch(gateways, cfg, log)  # whatever was committed but not yet delivered goes out now
        try:
            await col.wait_for(lambda c: accepted <= c.traces(), timeout=30)
        except TimeoutError:
            missing = accepted - col.traces()
            pytest.fail(
                f"{len(missing)} of {len(accepted)} answered readings never reached the broker, "
                f"e.g. {sorted(missing)[:5]}"
            )
    print(f"SIGTERM under load: {len(accepted)} readings answered 200, all delivered; shutdown {stop_s:.2f}s")


async def test_sigterm_during_a_backlog_drain_loses_nothing(
    tmp_path: Path, broker: Mosquitto, gateways: list[OpsGateway]
) -> None:
    """systemd stops the gateway while it is sending a backlog (the broker was away): nothing is lost, and it
    exits within the unit's stop timeout."""
    cfg = write_config(tmp_path / "gw.toml", tmp_path / "state", broker.url)
    log = tmp_path / "gw.log"
    async with Collector(broker.host, broker.port, client_id="platform-drain") as col:  # a persistent session
        broker.stop()
        gw = launch(gateways, cfg, log)
        with Load(gw.base_url) as load:
            await asyncio.sleep(2.0)
        accepted = set(load.accepted)
        assert len(accepted) > 200, (len(accepted), load.refused)
        broker.start()
        await col.wait_for(lambda c: len(c.traces() & accepted) > 0, timeout=30)  # the drain has begun
        t0 = time.monotonic()
        code = await asyncio.to_thread(gw.terminate, TIMEOUT_STOP_S)
        stop_s = time.monotonic() - t0
        assert code == 0, log.read_text()[-3000:]
        assert stop_s < TIMEOUT_STOP_S / 3, f"shutdown took {stop_s:.1f}s"
        during = len(col.traces() & accepted)
        launch(gateways, cfg, log)
        await col.wait_for(lambda c: accepted <= c.traces(), timeout=60)
    print(f"SIGTERM during drain: {during} of {len(accepted)} delivered before the stop, the rest after; {stop_s:.2f}s")


@pytest.mark.parametrize("victim", ["outbox", "registry"])
async def test_corrupt_file_at_boot_is_moved_aside(
    tmp_path: Path, broker: Mosquitto, gateways: list[OpsGateway], victim: str
) -> None:
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "gw.toml", state, broker.url)
    log = tmp_path / "gw.log"
    gw = launch(gateways, cfg, log)
    assert post_readings(gw.base_url, [{"device": "btn-1", "capability": "press", "value": True}])[0] == 200
    gw.terminate()

    name = {"outbox": "outbox.sqlite3", "registry": "devices.json"}[victim]
    garbage = b"\x13\x37 not what it should be " * 200
    for suffix in ("-wal", "-shm"):
        (state / (name + suffix)).unlink(missing_ok=True)
    (state / name).write_bytes(garbage)

    async with Collector(broker.host, broker.port) as col:
        try:
            gw = launch(gateways, cfg, log)
        except RuntimeError as exc:
            pytest.fail(
                f"gateway does not start with a corrupt {name} (core: move it aside and start clean): {str(exc)[-800:]}"
            )
        kept = [p for p in state.iterdir() if p.name != name and p.is_file() and p.read_bytes() == garbage]
        assert kept, f"the corrupt {name} was not kept for inspection: {sorted(p.name for p in state.iterdir())}"
        await col.wait_for(lambda c: "gateway.storage_recovered" in c.kinds(), timeout=10)
        (event,) = [e for e in col.events if e["kind"] == "gateway.storage_recovered"]
        assert name in json.dumps(event["data"]), event["data"]
        status, _ = post_readings(
            gw.base_url,
            [{"device": "btn-2", "capability": "press", "value": True, "trace": "after-recovery"}],
        )
        assert status == 200
        await col.wait_for(lambda c: "after-recovery" in c.traces(), timeout=10)


async def test_disk_full_alarms_still_accepted_then_recovers(
    small_disk: SmallDisk, tmp_path: Path, broker: Mosquitto, gateways: list[OpsGateway]
) -> None:
    state = small_disk.path / "state"
    health = {
        "heartbeat_interval_s": 0,
        "storage_check_s": 0.2,
        "storage_min_free_bytes": 1024 * 1024,
        "storage_recover_free_bytes": 2 * 1024 * 1024,
    }
    cfg = write_config(tmp_path / "gw.toml", state, broker.url, health=health)
    log = tmp_path / "gw.log"
    async with Collector(broker.host, broker.port) as col:
        gw = launch(gateways, cfg, log)
        accepted: set[str] = set()

        def press(trace: str, device: str = "btn-1") -> int:
            status, _body = post_readings(
                gw.base_url, [{"device": device, "capability": "press", "value": True, "trace": trace}]
            )
            if status == 200:
                accepted.add(trace)
            return status

        assert press("before-full") == 200
        small_disk.fill_completely()
        statuses = {f"full-{i}": press(f"full-{i}", "cord-1") for i in range(5)}
        assert all(s == 200 for s in statuses.values()), (
            f"alarms refused on a full disk (core: accept alarms from reserved space): {statuses}"
        )
        try:
            await col.wait_for(lambda c: "gateway.storage_degraded" in c.kinds(), timeout=10)
        except TimeoutError:
            pytest.fail("no gateway.storage_degraded on a full disk (core: the reserve must also take this report)")
        for i in range(20):  # low-priority data may be refused or dropped; the gateway must stay up
            post_readings(
                gw.base_url,
                [{"device": "pir-1", "capability": "motion", "value": True, "trace": f"motion-{i}"}],
            )
        assert gw.alive()

        small_disk.release()
        await col.wait_for(lambda c: "gateway.storage_restored" in c.kinds(), timeout=10)
        assert press("after-release", "btn-2") == 200
        await col.wait_for(lambda c: accepted <= c.traces(), timeout=15)


async def test_secrets_never_in_logs(tmp_path: Path, broker: Mosquitto, gateways: list[OpsGateway]) -> None:
    password = "Pw-9f8e7d6c-uplink"
    bindkey = "5b8a3e1f0c9d7a6b4e2f1d0c3b8a7e6f"
    state = tmp_path / "state"
    state.mkdir()
    # A paired BLE device with its bindkey, as pairing would have stored it.
    device = {
        "id": "ble-a4c138000001",
        "type": "thermometer",
        "transport": "ble",
        "name": "t",
        "room": "bedroom",
        "capabilities": ["battery"],
        "address": "A4:C1:38:00:00:01",
        "params": {},
        "secret": bindkey,
        "added_at": time.time(),
    }
    (state / "devices.json").write_text(json.dumps({"devices": {"1": device}}))
    os.chmod(state / "devices.json", 0o600)
    cfg = write_config(
        tmp_path / "gw.toml",
        state,
        broker.url,
        uplink={"username": "gw-test", "password": password},
        log_level="debug",
    )
    log = tmp_path / "gw.log"
    async with Collector(broker.host, broker.port) as col:
        gw = launch(gateways, cfg, log, global_args=["--log-level", "debug"])
        for i in range(3):
            post_readings(gw.base_url, [{"device": "btn-1", "capability": "press", "value": True, "trace": f"s{i}"}])
        post_readings(gw.base_url, [{"device": "ble-a4c138000001", "capability": "battery", "value": 80}])
        post_readings(gw.base_url, [{"device": "nope", "capability": "press", "value": True}])
        await col.wait_for(lambda c: {"s0", "s1", "s2"} <= c.traces(), timeout=10)
        broker.stop()  # reconnect attempts log the broker URL and errors
        await asyncio.sleep(1.0)
        broker.start()
        await asyncio.sleep(1.0)
        gw.terminate()
    text = log.read_text(errors="replace")
    assert "DEBUG" in text or "<7>" in text, "ran without debug logging: the test would prove little"
    for secret in (password, bindkey, bindkey.upper(), ":".join(bindkey[i : i + 2] for i in range(0, 32, 2))):
        assert secret not in text, f"secret {secret[:6]}… appears in the log"
    code = re.search(r"sign-in code[^\n]*?\b(\d{6,})\b", text)
    assert code is None, f"the installer sign-in code is logged in clear: {code.group(0) if code else ''}"
