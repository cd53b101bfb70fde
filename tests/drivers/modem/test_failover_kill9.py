"""kill -9 of a real ``fbgw run`` in the middle of a failover (the mocked ModemManager takes 0.8 s per SMS):
after the restart every contact has the alarm SMS exactly once — none twice, none lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from sims.modem import MockModemProcesses, ModemControl
from tests.drivers.modem.conftest import FAST
from tests.ops.process import OpsGateway, post_readings
from tests.support.broker import Mosquitto
from tests.support.gateway import config_dict, write_toml

pytestmark = pytest.mark.timeout(120)

CONTACTS = [
    {"label": "女儿", "number": "+8613800138001", "role": "guardian"},
    {"label": "儿子", "number": "+8613800138002", "role": "guardian"},
    {"label": "县呼叫中心", "number": "+8657912345678", "role": "call_centre"},
]


def alarm_texts(mm: ModemControl) -> Counter[str]:
    return Counter(r["number"] for r in mm.records("sms") if "平台暂时联系不上" in r["text"])


@pytest.mark.parametrize("after_sms", [0, 1, 2])
async def test_kill9_mid_failover_sends_each_sms_once(
    tmp_path: Path, broker: Mosquitto, mm_procs: MockModemProcesses, mm: ModemControl, after_sms: int
) -> None:
    """Killed while the SMS after ``after_sms`` ones is with the modem."""
    await mm.set_send_mode("ok", delay_ms=800)
    modem = {"enabled": True, "elder_name": "王奶奶", "contacts": CONTACTS, "sms_after_s": 1, "call_after_s": 600}
    drivers = {"modem": {"enabled": True, "bus_address": mm_procs.address, **FAST}}
    raw = config_dict(tmp_path / "state", broker.url, modem=modem)
    raw["drivers"].update(drivers)
    raw["health"] = {"heartbeat_interval_s": 0}
    cfg = write_toml(tmp_path / "gw.toml", raw)
    broker.stop()  # the platform cannot be reached: the second path is the only one
    gw = OpsGateway(cfg, tmp_path / "gw.log")
    gw.start()
    try:
        status, _ = await asyncio.to_thread(
            post_readings, gw.base_url, [{"device": "cord-1", "capability": "press", "value": True}]
        )
        assert status == 200
        deadline = time.monotonic() + 20
        while sum(alarm_texts(mm).values()) < after_sms:
            assert time.monotonic() < deadline, mm.records()
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # the next SMS is with the modem now (each takes 0.8 s)
        gw.kill9()
        gw.start()
        deadline = time.monotonic() + 30
        while set(alarm_texts(mm)) != {c["number"] for c in CONTACTS}:
            assert time.monotonic() < deadline, f"not every contact told after the restart: {alarm_texts(mm)}"
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)  # anything sent twice would show by now
        assert all(n == 1 for n in alarm_texts(mm).values()), alarm_texts(mm)
    finally:
        gw.stop()
        broker.start()
