"""Fuzzed desired documents and commands never crash the services, and what runs always equals what is stored.

Hypothesis drives a running gateway (real Mosquitto) through one event loop kept across examples.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.app import Gateway
from gateway.remote.actions import COMMANDS
from gateway.remote.commands import CommandService
from gateway.remote.config_sync import ConfigSync
from gateway.remote.desired import DesiredDocument, effective_config
from gateway.remote.report import effective_summary
from gateway.tools.local_broker import Mosquitto
from tests.support.gateway import SIM_HOME, make_config

pytestmark = pytest.mark.timeout(120)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
DEVICE_IDS = st.sampled_from([d["id"] for d in SIM_HOME] + ["zb-00124b0000000001", "", "x" * 70])
SECTIONS: dict[str, st.SearchStrategy[Any]] = {
    "rules": st.dictionaries(st.sampled_from(["battery_low_pct", "other"]), st.integers(-5, 120) | JSON, max_size=2),
    "devices": st.dictionaries(
        DEVICE_IDS,
        st.fixed_dictionaries({}, optional={"name": st.text(max_size=70), "room": st.text(max_size=70) | JSON}),
        max_size=3,
    )
    | JSON,
    "heartbeat_interval_s": st.floats(-10, 200_000) | st.integers(-10, 200_000) | JSON,
    "uplink": st.dictionaries(
        st.sampled_from(["batch_max_events", "batch_max_bytes", "max_inflight_messages", "x"]),
        st.integers(-1, 20_000_000),
        max_size=3,
    )
    | JSON,
    "log_level": st.sampled_from(["debug", "info", "warning", "error", "trace", ""]) | JSON,
    "county": st.sampled_from(["youxi", "gaotai", "nowhere", "../x"]) | JSON,
    "gateway": st.sampled_from(["gw-test", "gw-other"]) | JSON,
    "connection": JSON,  # never a valid connection: trials are tested elsewhere
    "signature": JSON,
    "state_dir": JSON,
    "surprise": JSON,
}
DOCUMENTS = st.fixed_dictionaries(
    {"version": st.integers(-3, 2**60) | JSON},
    optional=SECTIONS,  # type: ignore[arg-type]
)
COMMAND_BODIES = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=20) | JSON,
        "cmd": st.sampled_from(sorted(COMMANDS)) | JSON,
        "expires_at": st.just(int((time.time() + 3600) * 1000)) | st.integers(-1, 2**60) | JSON,
    },
    optional={
        "args": st.dictionaries(
            st.sampled_from(["seconds", "device", "alarm", "by", "max_bytes", "zz"]),
            st.integers(-5, 5000) | st.text(max_size=10) | JSON,
            max_size=3,
        )
        | JSON,
        "gateway": st.just("gw-test") | JSON,
        "issued_at": JSON,
    },
)


def encoded(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


PAYLOADS = DOCUMENTS.map(encoded) | JSON.map(encoded) | st.binary(max_size=200)
COMMAND_PAYLOADS = COMMAND_BODIES.map(encoded) | JSON.map(encoded) | st.binary(max_size=200)


@pytest.fixture
def running(broker: Mosquitto, tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Gateway]]:
    loop = asyncio.new_event_loop()
    gw = Gateway(make_config(tmp_path / "state", broker.url, remote={"connection_trial_s": 1}))
    loop.run_until_complete(gw.__aenter__())
    try:
        yield loop, gw
    finally:
        loop.run_until_complete(gw.__aexit__(None, None, None))
        loop.close()


def check_consistent(gw: Gateway, sync: ConfigSync) -> None:
    """What runs is exactly local ⊕ the stored document, and what is reported is what runs."""
    assert sync.outcome.reason != "internal_error", sync.outcome
    stored = sync.store.desired_path.read_bytes() if sync.store.desired_path.exists() else None
    doc = DesiredDocument.model_validate_json(stored, strict=True) if stored else None
    assert gw.config == effective_config(sync.local, doc, sync.store.tls_dir)
    assert (sync.applied is None) == (doc is None)
    if doc is not None and sync.applied is not None:
        assert sync.applied.version == doc.version
    report = json.loads(sync.store.reported_path.read_bytes())
    assert report["effective"] == effective_summary(gw.config, gw.registry)


def test_fuzzed_documents_never_crash(running: tuple[asyncio.AbstractEventLoop, Gateway]) -> None:
    loop, gw = running
    sync = gw.services.remote_config
    assert isinstance(sync, ConfigSync)

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(PAYLOADS)
    @example(encoded({"version": 1, "heartbeat_interval_s": 60}))
    def one(payload: bytes) -> None:
        loop.run_until_complete(asyncio.wait_for(sync.submit(payload), 10))
        check_consistent(gw, sync)

    one()
    assert sync.counters["received"] >= 400
    assert sync.counters["rejected"] > 0 and sync.counters["applied"] > 0


def test_fuzzed_commands_never_crash(running: tuple[asyncio.AbstractEventLoop, Gateway]) -> None:
    loop, gw = running
    service = gw.services.remote_commands
    assert isinstance(service, CommandService)
    restarts: list[int] = []
    service.restarter = lambda: restarts.append(1)

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(COMMAND_PAYLOADS)
    @example(encoded({"id": "c-ok", "cmd": "ping", "expires_at": int((time.time() + 600) * 1000)}))
    def one(payload: bytes) -> None:
        result = loop.run_until_complete(asyncio.wait_for(service.handle(payload), 10))
        assert result["status"] in ("ok", "error", "rejected")
        assert result["reason"] != "internal_error", result
        assert (result["status"] == "ok") == (result["reason"] is None)
        json.dumps(result)  # publishable

    one()
    assert service.counters["received"] >= 400
    assert service.counters["ok"] > 0 and service.counters["rejected"] > 0
