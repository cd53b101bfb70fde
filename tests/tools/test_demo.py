"""`./scripts/demo` end to end: the simulated home, a Zigbee detector on the coordinator simulator, the broker
stopped and started again (with an SMS to the guardian through the mocked 4G modem, and her reply), and the
console platform view's final count."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.broker import free_port

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)


def test_demo_shows_the_home_survives_a_broker_outage_and_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.tools.demo",
            "--work",
            str(tmp_path / "demo"),
            "--http-port",
            str(port),
            "--duration",
            "80",
            "--outage-at",
            "30",
            "--outage-for",
            "5",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=170,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert re.search(rf"technician page: http://127\.0\.0\.1:{port}/ +sign-in code: \d{{8}}", out), out[:2000]
    kinds = ("alarm.emergency_call", "alarm.leak", "alarm.bed_exit", "alarm.inactivity", "alarm.acknowledged")
    care = ("care.visit_started", "care.visit_ended", "care.reminder_due", "care.reminder_taken")
    for kind in kinds + care:
        assert re.search(rf"^#\s*\d+ \w+ +{re.escape(kind)} ", out, re.M), f"no {kind}:\n{out[-3000:]}"
    # The Zigbee smoke detector joined, was named by the platform's desired config, and its alarm arrived.
    assert re.search(r"\[config\] version \d+: applied", out), out[-3000:]
    assert re.search(r"alarm\.smoke +kitchen/zb-[0-9a-f]{16}", out), out[-3000:]
    assert "stopping the broker" in out and "broker is back" in out
    after_outage = out.split("broker is back", 1)[1]
    assert re.search(r"^#\s*\d+ ", after_outage, re.M), "nothing arrived after the broker came back"
    # During the outage the guardian got the SMS through the (mocked) 4G modem and acknowledged it by replying;
    # the platform learns both once the broker is back.
    during = out.split("stopping the broker", 1)[1].split("broker is back", 1)[0]
    assert re.search(r"SMS to the guardian \(女儿\) through the 4G modem: .*王奶奶", during), during
    assert "the guardian replies" in during, during
    for kind in ("alarm.sms_sent", "alarm.acknowledged"):
        assert re.search(rf"^#\s*\d+ \w+ +{re.escape(kind)} ", after_outage, re.M), f"no {kind} after the outage"
    summary = re.search(r"platform received (\d+) events from demo-0001; gaps: (.+); duplicates dropped", out)
    assert summary, out[-2000:]
    assert int(summary.group(1)) >= 30 and summary.group(2) == "none", summary.group(0)
