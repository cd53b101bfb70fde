"""A crash in the middle of applying leaves the old or the new document running, never a mix."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.remote.config_sync import ConfigSync
from gateway.remote.desired import DesiredDocument
from gateway.remote.store import RemoteStore
from gateway.tools.local_broker import Mosquitto
from tests.remote.platform import Platform, assert_matches_gateway
from tests.support.collector import Collector
from tests.support.gateway import GatewayProcess, config_dict, make_config, write_toml

pytestmark = pytest.mark.timeout(90)


def doc(n: int) -> dict[str, Any]:
    """Version ``n``: every section changes with n, so a mix of two versions is visible."""
    return {
        "version": n,
        "rules": {"battery_low_pct": 20 + n},
        "heartbeat_interval_s": 100 + n,
        "uplink": {"batch_max_events": 100 + n},
        "county": "gaotai" if n % 2 else "youxi",
        "devices": {"btn-1": {"name": f"button v{n}", "room": f"room v{n}"}},
    }


def version_running(gw: Gateway) -> int:
    """Which document version the gateway runs, asserting it runs all of exactly one."""
    n = gw.config.health.heartbeat_interval_s - 100
    btn = gw.registry.get("btn-1")
    assert btn is not None
    assert (
        gw.config.rules.battery_low_pct,
        gw.config.uplink.batch_max_events,
        gw.config.web.county,
        btn.name,
        btn.room,
    ) == (20 + n, 100 + n, "gaotai" if n % 2 else "youxi", f"button v{n:g}", f"room v{n:g}"), (
        "a mix of two documents is running"
    )
    return int(n)


async def hang_forever(reached: asyncio.Event) -> None:
    """Signal that the patched step is reached, then wait forever, as if the power went at that instant."""
    reached.set()
    await asyncio.Event().wait()


async def apply_v1_then_crash_during_v2(broker: Mosquitto, tmp_path: Path, patch: Any) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col)
        async with Gateway(cfg) as gw:
            await p.push(doc(1))
            await p.report_for(1, state="applied")
            sync = gw.services.remote_config
            assert isinstance(sync, ConfigSync)
            reached = asyncio.Event()
            patch(sync, reached)
            await p.push(doc(2))
            async with asyncio.timeout(10):
                await reached.wait()
            # leaving the block now stops the gateway with the apply cut off at that point
        await p.publish(p.topics.config_desired, b"", retain=True)  # so the restart shows what it had stored


async def test_crash_between_temp_write_and_rename_keeps_old(broker: Mosquitto, tmp_path: Path) -> None:
    def patch(sync: ConfigSync, reached: asyncio.Event) -> None:
        async def temp_written_then_power_cut(payload: bytes) -> None:
            tmp = sync.store.desired_path.with_name(f".{sync.store.desired_path.name}.tmp")
            tmp.write_bytes(payload[: len(payload) // 2])  # even half written
            await hang_forever(reached)

        sync.store.save_desired = temp_written_then_power_cut  # type: ignore[method-assign]

    await apply_v1_then_crash_during_v2(broker, tmp_path, patch)
    assert (tmp_path / "state" / "remote" / ".desired.json.tmp").exists()
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        assert version_running(gw) == 1
        p = Platform(broker.host, broker.port, gw.id, col)
        report = await p.report_for(1)
        assert report["applied"]["version"] == 1
        assert_matches_gateway(report, gw)
        await p.push(doc(2))  # and the platform's next push applies cleanly
        await p.report_for(2, state="applied")
        assert version_running(gw) == 2


async def test_crash_after_commit_before_switch_in_runs_new(broker: Mosquitto, tmp_path: Path) -> None:
    def patch(sync: ConfigSync, reached: asyncio.Event) -> None:
        async def committed_then_power_cut(*args: Any) -> None:
            assert json.loads(sync.store.desired_path.read_bytes())["version"] == 2
            await hang_forever(reached)

        sync._switch_in = committed_then_power_cut  # type: ignore[method-assign]

    await apply_v1_then_crash_during_v2(broker, tmp_path, patch)
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        assert version_running(gw) == 2
        p = Platform(broker.host, broker.port, gw.id, col)
        report = await p.report_for(2, state="applied")
        assert_matches_gateway(report, gw)


async def test_failing_switch_in_is_rolled_back(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        await p.push(doc(1))
        await p.report_for(1, state="applied")
        real = gw.registry.update
        calls = 0

        async def failing_update(device_id: str, **changes: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise OSError(28, "No space left on device")
            return await real(device_id, **changes)

        gw.registry.update = failing_update  # type: ignore[method-assign]
        await p.push(doc(2))
        report = await p.report_for(2, state="rejected")
        assert report["reason"] == "apply_failed" and "No space" in report["detail"]
        assert version_running(gw) == 1
        stored = json.loads(RemoteStore(gw.state_dir).desired_path.read_bytes())
        assert stored["version"] == 1
        assert_matches_gateway(report, gw)


async def test_kill9_while_applying(broker: Mosquitto, tmp_path: Path) -> None:
    """A real `fbgw run`, killed with SIGKILL at random instants while it applies a document."""
    state = tmp_path / "state"
    conf = write_toml(tmp_path / "gw.toml", config_dict(state, broker.url))
    rng = random.Random(os.getpid())
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col)
        proc = GatewayProcess(conf, tmp_path / "gw.log")
        await asyncio.to_thread(proc.start)
        try:
            await p.push(doc(1))
            await p.report_for(1, state="applied", timeout=20)
            for n in range(2, 5):
                await p.push(doc(n))
                await asyncio.sleep(rng.uniform(0.0, 0.06))
                proc.kill9()
                await p.publish(p.topics.config_desired, b"", retain=True)
                mark = len(p.reports())
                await asyncio.to_thread(proc.start)
                await col.wait_for(lambda c, m=mark: len(p.reports()) > m, 20)
                report = p.reports()[-1]
                running = report["applied"]["version"]
                assert running in (n - 1, n), report
                effective = report["effective"]
                k = running
                assert (
                    effective["rules"]["battery_low_pct"],
                    effective["heartbeat_interval_s"],
                    effective["uplink"]["batch_max_events"],
                    effective["county"],
                    effective["devices"]["btn-1"],
                ) == (
                    20 + k,
                    100 + k,
                    100 + k,
                    "gaotai" if k % 2 else "youxi",
                    {"name": f"button v{k}", "room": f"room v{k}"},
                )
                if running == n - 1:  # not applied before the kill: the platform pushes it again
                    await p.push(doc(n))
                    await p.report_for(n, state="applied", timeout=20)
        finally:
            if proc.alive():
                proc.terminate()
    DesiredDocument.model_validate_json((state / "remote" / "desired.json").read_bytes(), strict=True)


def stored_version(gw: Gateway) -> int:
    return int(json.loads(RemoteStore(gw.state_dir).desired_path.read_bytes())["version"])


def names_on_disk(gw: Gateway) -> dict[str, tuple[str, str]]:
    """Device names and rooms as the registry file holds them (what a restart would load)."""
    rows = json.loads(gw.registry.path.read_text(encoding="utf-8"))["devices"].values()
    return {row["id"]: (row["name"], row["room"]) for row in rows}


async def test_a_bug_in_one_service_is_rolled_back_everywhere(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only the expected errors: a TypeError from one service's reconfigure, after the services before it
    already switched, puts every service, the stored document and the report back on the old version."""
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        await p.push(doc(1))
        await p.report_for(1, state="applied")
        web: Any = gw.services.web
        heartbeat: Any = gw.services.heartbeat
        real = web.reconfigure

        async def buggy(config: Any) -> None:
            if config.health.heartbeat_interval_s == 102:  # only the new document trips the bug
                raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")
            await real(config)

        monkeypatch.setattr(web, "reconfigure", buggy)
        await p.push(doc(2))
        report = await p.report_for(2, state="rejected")
        assert report["reason"] == "apply_failed" and "TypeError" in report["detail"], report
        assert "rollback incomplete" not in report["detail"]
        assert report["applied"]["version"] == 1
        assert version_running(gw) == 1
        assert heartbeat.settings.heartbeat_interval_s == 101  # switched before the failing service: back
        assert gw.rules.settings.battery_low_pct == 21
        assert web.profile.id == "gaotai"
        assert stored_version(gw) == 1
        assert_matches_gateway(report, gw)

        await p.push(doc(3))  # the gateway keeps applying documents afterwards
        await p.report_for(3, state="applied")
        assert version_running(gw) == 3 and stored_version(gw) == 3


async def test_a_service_that_fails_its_rollback_does_not_stop_the_others(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service broken for good: the services after it still go back, and the report says what did not."""
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        await p.push(doc(1))
        await p.report_for(1, state="applied")
        heartbeat: Any = gw.services.heartbeat
        storage: Any = gw.services.storage
        alarms: Any = gw.services.alarms

        async def broken(config: Any) -> None:
            raise AttributeError("'NoneType' object has no attribute 'timezone'")

        monkeypatch.setattr(alarms, "reconfigure", broken)  # before heartbeat and storage in the service list
        await p.push(doc(2))
        report = await p.report_for(2, state="rejected")
        assert report["reason"] == "apply_failed"
        assert "rollback incomplete" in report["detail"] and "service alarms" in report["detail"], report
        assert report["applied"]["version"] == 1
        assert gw.config.health.heartbeat_interval_s == 101
        assert heartbeat.settings.heartbeat_interval_s == 101
        assert storage.settings == gw.config.health
        assert gw.rules.settings.battery_low_pct == 21
        assert stored_version(gw) == 1
        assert_matches_gateway(report, gw)


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), TypeError("bad argument")], ids=repr)
async def test_device_renames_are_undone_when_a_later_step_fails(
    broker: Mosquitto, tmp_path: Path, error: Exception
) -> None:
    """Renames made before the failure are put back, in memory and in the registry file."""
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        await p.push(doc(1))
        await p.report_for(1, state="applied")
        before = names_on_disk(gw)
        real = gw.registry.update

        async def failing_update(device_id: str, **changes: Any) -> Any:
            if device_id == "door-1" and changes.get("name") == "door v2":
                raise error
            return await real(device_id, **changes)

        gw.registry.update = failing_update  # type: ignore[method-assign]
        v2 = doc(2)
        v2["devices"]["door-1"] = {"name": "door v2"}  # renamed after btn-1, which is renamed first
        await p.push(v2)
        report = await p.report_for(2, state="rejected")
        assert report["reason"] == "apply_failed" and "rollback incomplete" not in report["detail"], report
        assert version_running(gw) == 1  # btn-1 has its v1 name and room again
        assert names_on_disk(gw) == before
        assert stored_version(gw) == 1
        assert_matches_gateway(report, gw)
