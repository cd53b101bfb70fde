"""The second alarm path (gateway/failover) on the real modem driver and the mocked ModemManager, in a whole
gateway: with the broker stopped, a pull-cord press is texted to every contact within ``sms_after_s`` + 2 s, the
SMS text arrives intact at ModemManager, a reply from a contact acknowledges the alarm (``by: "sms"``), and when
the broker returns the platform receives the alarm, ``alarm.sms_sent`` and ``alarm.acknowledged`` in order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from drivers.base import Reading
from gateway.app import Gateway
from sims.modem import MockModemProcesses, ModemControl
from tests.drivers.modem.conftest import FAST
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(90)

DAUGHTER = "+8613800138001"
CENTRE = "+8657912345678"


@pytest.mark.parametrize("outage", ["stopped", "paused"])
async def test_broker_down_press_texts_contacts_and_a_reply_acknowledges(
    tmp_path: Path, broker: Mosquitto, mm_procs: MockModemProcesses, mm: ModemControl, outage: str
) -> None:
    """``stopped``: the uplink knows it is down, so SMS go at once. ``paused`` (SIGSTOP): the connection looks up
    but no PUBACK comes, so SMS go after ``sms_after_s``."""
    modem = {
        "enabled": True,
        "elder_name": "王奶奶",
        "contacts": [
            {"label": "女儿", "number": "13800138001", "role": "guardian"},
            {"label": "县呼叫中心", "number": CENTRE, "role": "call_centre"},
        ],
        "sms_after_s": 2,
        "call_after_s": 60,
    }
    drivers = {"modem": {"enabled": True, "bus_address": mm_procs.address, **FAST}}
    cfg = make_config(tmp_path / "s", broker.url, drivers=drivers, modem=modem)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        for _ in range(200):
            if gw.drivers["modem"].health().state == "up" and gw.uplink.stats.state == "online":
                break
            await asyncio.sleep(0.05)
        assert gw.drivers["modem"].health().state == "up"
        if outage == "stopped":
            broker.stop()
            await asyncio.sleep(0.5)
        else:
            broker.pause()

        t0 = time.monotonic()
        await gw.intake.reading(Reading("cord-1", "press", True))
        while len(mm.records("sms")) < 2:
            assert time.monotonic() - t0 < 2 + 2, f"SMS not sent within sms_after_s + 2 s: {mm.records()}"
            await asyncio.sleep(0.02)
        took = time.monotonic() - t0
        if outage == "paused":
            assert took >= 2, took  # not before sms_after_s: the platform might still take it
        sms = mm.records("sms")
        assert sorted(r["number"] for r in sms) == sorted([CENTRE, DAUGHTER])
        assert all("王奶奶" in r["text"] and r["status"] == "sent" for r in sms), sms
        assert len({r["text"] for r in sms}) == 1  # the same alarm text to each contact, intact

        await mm.inject_sms("13800138001", "收到")  # the daughter replies (the network drops the +86)
        await asyncio.sleep(1.0)

        if outage == "stopped":
            broker.start()
        else:
            broker.resume()
        await col.wait_for(lambda c: "alarm.acknowledged" in c.kinds(), timeout=30)
        kinds = [k for k in col.kinds() if k in ("alarm.emergency_call", "alarm.sms_sent", "alarm.acknowledged")]
        assert kinds[0] == "alarm.emergency_call" and kinds[-1] == "alarm.acknowledged", kinds
        assert kinds.count("alarm.sms_sent") == 2, kinds
        ack = next(ev for ev in col.events if ev["kind"] == "alarm.acknowledged")
        assert ack["data"]["by"] == "sms" and ack["data"]["note"] == "女儿"
        assert mm.records("call") == []  # acknowledged: nobody is called
    print(f"broker {outage}: press -> both SMS at ModemManager: {took * 1000:.0f} ms")
