"""The loopback-only inject hook and the device list: the contract rigs and benchmarks rely on."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import Gateway
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config


@pytest.fixture
async def running(tmp_path: Path, broker: Mosquitto):  # type: ignore[no-untyped-def]
    async with Gateway(make_config(tmp_path / "s", broker.url)) as gw, aiohttp.ClientSession() as http:
        yield gw, http, f"http://127.0.0.1:{gw.web.port}"


async def test_devices_lists_capabilities_and_last_seen(running) -> None:  # type: ignore[no-untyped-def]
    gw, http, base = running
    async with http.get(f"{base}/api/devices") as resp:
        devices = {d["id"]: d for d in (await resp.json())["devices"]}
    assert devices["door-1"]["capabilities"] == ["contact", "battery", "tamper"]
    assert devices["door-1"]["last_seen"] is None
    await gw.drivers["sim"].inject("door-1", "contact", "open")
    async with http.get(f"{base}/api/devices") as resp:
        devices = {d["id"]: d for d in (await resp.json())["devices"]}
    assert devices["door-1"]["last_seen"] is not None
    assert {"id", "type", "room", "transport"} <= set(devices["door-1"])


async def test_inject_answers_after_commit_and_events_carry_the_trace(running, broker: Mosquitto) -> None:  # type: ignore[no-untyped-def]
    gw, http, base = running
    async with Collector(broker.host, broker.port) as col:
        body = [
            {"device": "btn-1", "capability": "press", "value": True, "trace": "x1"},
            {"device": "door-1", "capability": "contact", "value": "open", "trace": "x2"},
        ]
        async with http.post(f"{base}/api/sim/readings", json=body) as resp:
            assert resp.status == 200
            answer = await resp.json()
        assert answer["accepted"] == 2
        assert [e["kind"] for e in answer["events"]] == ["alarm.emergency_call", "state.door"]
        assert all(e["seq"] for e in answer["events"])
        # committed: the outbox already counted them when we got the answer
        assert gw.outbox.stats.committed >= 2
        await col.wait_for(lambda c: {"x1", "x2"} <= c.traces())


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"not json", 400, "JSON"),
        (b"[]", 400, "between 1"),
        (b'{"device": "btn-1"}', 400, "capability"),
        (b'{"device": "btn-1", "capability": "press", "value": true, "extra": 1}', 400, "extra"),
        (b'{"device": "ghost", "capability": "press", "value": true}', 404, "unknown device"),
        (b'{"device": "btn-1", "capability": "smoke", "value": true}', 422, "no capability"),
        (b'{"device": "btn-1", "capability": "teleport", "value": true}', 422, "unknown capability"),
        (b'{"device": "door-1", "capability": "contact", "value": "ajar"}', 422, "bad value"),
        (b'{"device": "bed-1", "capability": "heart_rate", "value": "fast"}', 422, "bad value"),
        (b'[{"device": "btn-1", "capability": "press", "value": true}, 7]', 400, "reading 1"),
    ],
)
async def test_malformed_bodies_get_clear_errors_and_store_nothing(
    running,
    body: bytes,
    status: int,  # type: ignore[no-untyped-def]
    fragment: str,
) -> None:
    gw, http, base = running
    before = gw.outbox.stats.committed
    async with http.post(f"{base}/api/sim/readings", data=body, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == status
        assert fragment in (await resp.json())["error"]
    assert gw.outbox.stats.committed == before, "a rejected request must not half-apply"


async def test_fuzzed_bodies_never_crash_the_server(running) -> None:  # type: ignore[no-untyped-def]
    _, http, base = running
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
    seen: list[int] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "device": st.sampled_from(["btn-1", "door-1", "x"]),
                    "capability": st.text(max_size=12),
                    "value": json_values,
                }
            ),
        )
    )
    def check(payload: object) -> None:
        seen.append(0)
        pending.append(payload)

    pending: list[object] = []
    check()
    for payload in pending:
        async with http.post(f"{base}/api/sim/readings", json=payload) as resp:
            assert resp.status in (200, 400, 404, 422), await resp.text()
    async with http.get(f"{base}/api/status") as resp:
        assert resp.status == 200
    assert len(seen) >= 100
