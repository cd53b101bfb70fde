"""``fbgw status`` / ``devices`` / ``outbox`` against a real gateway process and its state directory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ops.process import OpsGateway, post_readings, write_config
from tests.support.broker import Mosquitto
from tests.support.gateway import REPO

pytestmark = pytest.mark.timeout(120)
BINDKEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def ops(*args: str) -> tuple[int, Any]:
    res = subprocess.run(
        [sys.executable, "-m", "gateway.tools.ops_cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert BINDKEY not in res.stdout + res.stderr
    try:
        return res.returncode, json.loads(res.stdout)
    except json.JSONDecodeError:
        return res.returncode, res.stdout + res.stderr


@pytest.fixture
def gateway(tmp_path: Path, broker: Mosquitto) -> Iterator[tuple[OpsGateway, Path, Path]]:
    state = tmp_path / "state"
    state.mkdir()
    device = {
        "id": "ble-a4c138000002",
        "type": "thermometer",
        "transport": "ble",
        "room": "bedroom",
        "capabilities": ["battery"],
        "secret": BINDKEY,
    }
    (state / "devices.json").write_text(json.dumps({"devices": {"1": device}}))
    cfg = write_config(tmp_path / "gw.toml", state, broker.url)
    gw = OpsGateway(cfg, tmp_path / "gw.log")
    gw.start()
    try:
        yield gw, cfg, state
    finally:
        gw.stop()


def test_status_devices_outbox_live_and_offline(gateway: tuple[OpsGateway, Path, Path], broker: Mosquitto) -> None:
    gw, cfg, state = gateway
    common = ["--config", str(cfg), "--url", gw.base_url, "--json"]

    code, doc = ops("status", *common)
    assert code == 0 and doc["running"] is True, doc
    assert doc["live"]["uplink"]["state"] == "online" and doc["on_disk"]["disk"]["free_bytes"] > 0

    assert post_readings(gw.base_url, [{"device": "btn-1", "capability": "press", "value": True}])[0] == 200
    code, doc = ops("devices", *common)
    by_id = {d["id"]: d for d in doc["devices"]}
    assert code == 0 and by_id["btn-1"]["last_seen"] and by_id["ble-a4c138000002"]["has_secret"] is True

    # Platform away: events pile up in the outbox, and the technician can see them.
    broker.stop()
    deadline = time.monotonic() + 10
    while ops("status", *common)[1]["live"]["uplink"]["state"] == "online":
        assert time.monotonic() < deadline, "uplink never noticed the broker was gone"
        time.sleep(0.1)
    for i in range(3):
        post_readings(gw.base_url, [{"device": "cord-1", "capability": "press", "value": True, "trace": f"q{i}"}])
    code, doc = ops("status", *common)
    assert code == 1 and doc["live"]["outbox"]["alarms"] >= 3
    code, doc = ops("outbox", *common, "--peek", "2")
    assert code == 0 and doc["by_priority"]["alarm"]["rows"] >= 3 and len(doc["oldest"]) == 2
    assert doc["oldest"][0]["kind"] == "alarm.emergency_call" and doc["oldest"][0]["trace"] == "q0"

    # Service down: status says so, and the state directory still answers.
    gw.terminate()
    code, doc = ops("status", *common)
    assert code == 3 and doc["running"] is False and doc["on_disk"]["outbox"]["rows"] >= 3
    code, doc = ops("devices", *common)
    assert code == 0 and doc["running"] is False
    assert {"btn-1", "ble-a4c138000002"} <= {d["id"] for d in doc["devices"]}
    code, text = ops("outbox", "--config", str(cfg), "--url", gw.base_url)
    assert code == 0 and "alarm.emergency_call" in text and "events waiting" in text
    code, text = ops("devices", "--config", str(cfg), "--url", gw.base_url)
    assert code == 0 and "ble-a4c138000002" in text and "service not answering" in text
    # Reading the outbox left nothing behind the gateway's user could not write.
    assert (
        not (state / "outbox.sqlite3-shm").exists()
        or (state / "outbox.sqlite3-shm").stat().st_uid == (state / "outbox.sqlite3").stat().st_uid
    )


def test_add_subcommands_wires_into_a_parser() -> None:
    import argparse

    from gateway.tools.ops_cli import add_subcommands, cmd_devices, cmd_outbox, cmd_status

    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    assert parser.parse_args(["status"]).func is cmd_status
    assert parser.parse_args(["devices", "--json"]).func is cmd_devices
    assert parser.parse_args(["outbox", "--peek", "3"]).peek == 3
    assert parser.parse_args(["outbox"]).func is cmd_outbox
