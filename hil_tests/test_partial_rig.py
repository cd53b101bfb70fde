"""The suite on a rig that lacks edges: what the rig cannot do is reported skipped with the reason, never passed.

Runs the scenarios in a child pytest against a small rig (the simulated home and one fake GPIO input: no
Zigbee, no BLE, no bed) and reads the report it writes. Its GPIO device is of a kind its input cannot
report, so the suite has no stimulus for it: a row, skipped with the reason. (A check of the suite itself,
not a scenario: not a row of the report.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PARTIAL_RIG = """
name = "partial"
samples = 2

[gateway]
id = "hil-partial"

[[devices]]
name = "sim-call"
kind = "call_button"
edge = "sim"

[[devices]]
name = "sim-smoke"
kind = "smoke"
edge = "sim"

[gpio]
mode = "fake"

[[gpio.inputs]]
name = "hall"
kind = "door"
chip = "/dev/gpiochip-hil"
line = 5
contact = "no"

[[devices]]
name = "gpio-hall-pir"   # a motion detector's relay wired into a door input: the input reports contact
kind = "motion"
edge = "gpio"
input = "hall"
"""

#: Scenarios whose edge the partial rig lacks.
ABSENT = [
    "radio_unplugged_and_back[zigbee]",
    "radio_unplugged_and_back[ble]",
    "pairing_a_device[zigbee]",
    "pairing_a_device[ble]",
    "radio_unplugged_and_back[rf433]",
    "pairing_a_device[rf433]",
    "pairing_a_xiaomi_sensor",
    "vitals_out_of_range[none]",
    "bed_exit[none]",
]


@pytest.mark.timeout(120)
def test_absent_edges_are_skipped_with_the_reason(tmp_path: Path) -> None:
    rig = tmp_path / "partial.toml"
    rig.write_text(PARTIAL_RIG, encoding="utf-8")
    report_dir = tmp_path / "report"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-p",
            "no:randomly",
            "hil_tests/test_alarms.py",
            "hil_tests/test_failures.py",
            "hil_tests/test_platform.py",
            "-k",
            "radio or pairing or tamper or end_to_end or vitals or bed_exit",
            "--rig",
            str(rig),
            "--hil-report",
            str(report_dir),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    doc = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    rows = {row["scenario"]: row for row in doc["scenarios"]}
    for name in ABSENT:
        row = rows[name]
        assert row["outcome"] == "skipped", row
        assert row["reason"].startswith("not on this rig"), row
        assert row["samples"] == 0 and row["p50_ms"] is None, row
    assert rows["tamper[sim]"]["outcome"] == "passed" and rows["tamper[sim]"]["samples"] == 2
    no_stimulus = rows["alarm_end_to_end[gpio-hall-pir]"]
    assert no_stimulus["outcome"] == "skipped" and no_stimulus["samples"] == 0, no_stimulus
    assert "gpio input hall is a door input" in no_stimulus["reason"], no_stimulus
    no_tamper = rows["tamper[gpio]"]
    assert no_tamper["outcome"] == "skipped" and "no stimulus for a motion" in no_tamper["reason"], no_tamper
    for device in ("sim-call", "sim-smoke"):
        row = rows[f"alarm_end_to_end[{device}]"]
        assert row["outcome"] == "passed" and row["samples"] == 2 and row["p50_ms"] is not None, row
    schema = rows["every event matches config/schema/event.schema.json"]
    assert schema["outcome"] == "passed" and schema["reason"].endswith("events checked"), schema
    assert doc["meta"]["counts"] == {"passed": 4, "failed": 0, "skipped": len(ABSENT) + 2}
    markdown = (report_dir / "report.md").read_text(encoding="utf-8")
    assert (
        "| radio_unplugged_and_back[zigbee] | **skipped** | – | – | – | 0 | not on this rig: the rig has no Zigbee"
        in markdown
    )
