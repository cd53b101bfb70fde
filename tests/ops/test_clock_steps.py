"""The wall clock steps ±1 h while the gateway runs (NTP after a boot without RTC), in a real ``fbgw run``.

The gateway process runs under libfaketime (Debian's ``faketime``) with only its wall clock moved; the monotonic
clock, the broker and this test keep real time. Waiting events are aged on the monotonic timeline (a step does
not expire them), escalation keeps its interval, and events stay in ``seq`` order with their clock state.
"""

from __future__ import annotations

import asyncio
import glob
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.process import OpsGateway, post_readings, write_config
from tests.support.broker import Mosquitto
from tests.support.collector import Collector

pytestmark = pytest.mark.timeout(120)


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    assert found, "libfaketime is not installed: ./scripts/setup installs Debian's faketime"
    return found[0]


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    path = tmp_path / "faketime"
    path.write_text("+0\n")
    return path


@pytest.fixture
def gateway_proc(tmp_path: Path, broker: Mosquitto, clock_file: Path) -> Iterator[OpsGateway]:
    cfg = write_config(
        tmp_path / "gw.toml",
        tmp_path / "state",
        broker.url,
        outbox={"ttl_check_s": 0.5, "ttl": {"telemetry": 900, "state": 900}},
        rules={"alarms": {"escalate_after_s": 4, "escalate_max": 1}},
    )
    env = {
        "LD_PRELOAD": libfaketime(),
        "FAKETIME_TIMESTAMP_FILE": str(clock_file),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    gw = OpsGateway(cfg, tmp_path / "gw.log", env=env)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def step(clock_file: Path, offset: str) -> None:
    clock_file.write_text(offset + "\n")


async def test_a_forward_step_expires_nothing_that_waits(
    broker: Mosquitto, gateway_proc: OpsGateway, clock_file: Path
) -> None:
    async with Collector(broker.host, broker.port, client_id="platform-clock") as col:
        broker.stop()
        readings = [
            {"device": "bed-1", "capability": "heart_rate", "value": 60 + i, "trace": f"hr-{i}"} for i in range(5)
        ]
        status, _ = await asyncio.to_thread(post_readings, gateway_proc.base_url, readings)
        assert status == 200
        step(clock_file, "+1h")  # NTP finds the clock an hour behind: 15 min TTLs must not fire
        await asyncio.sleep(2.0)  # four TTL rounds
        broker.start()
        await col.wait_for(lambda c: {f"hr-{i}" for i in range(5)} <= c.traces(), timeout=30)


async def test_a_backward_step_keeps_escalation_and_order(
    broker: Mosquitto, gateway_proc: OpsGateway, clock_file: Path
) -> None:
    async with Collector(broker.host, broker.port) as col:
        status, _ = await asyncio.to_thread(
            post_readings,
            gateway_proc.base_url,
            [{"device": "btn-1", "capability": "press", "value": True, "trace": "call"}],
        )
        assert status == 200
        raised = time.monotonic()
        await col.wait_for(lambda c: "call" in c.traces())
        step(clock_file, "-1h")  # the clock was an hour ahead
        await col.wait_for(lambda c: "alarm.escalated" in c.kinds(), timeout=15)
        escalated = next(t for t, _, e in col.arrivals if e["kind"] == "alarm.escalated")
        assert 3.0 <= escalated - raised <= 8.0, escalated - raised  # 4 s, not 4 s + an hour
        status, _ = await asyncio.to_thread(
            post_readings,
            gateway_proc.base_url,
            [{"device": "door-1", "capability": "contact", "value": "open", "trace": "after"}],
        )
        assert status == 200
        await col.wait_for(lambda c: "after" in c.traces())
    call = next(e for e in col.events if e.get("trace") == "call")
    after = next(e for e in col.events if e.get("trace") == "after")
    assert after["seq"] > call["seq"]  # order is by seq, whatever the wall clock did
    assert after["ts"] < call["ts"]  # the wall time went back, and the event says so...
    assert after["clock"]["mono_ms"] > call["clock"]["mono_ms"]  # ...while its monotonic stamp shows the real order
    assert after["clock"]["boot"] == call["clock"]["boot"]
