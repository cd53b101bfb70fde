"""The second alarm path on the rig: the broker stopped, a call is texted to every contact through the 4G modem
(the real modem driver on the rig's mocked ModemManager), a contact's SMS reply acknowledges it, and when the
broker returns the platform receives the alarm, ``alarm.sms_sent`` and ``alarm.acknowledged`` (``by: "sms"``) in
order. Whom to text is pushed as remote config for this scenario and taken back at its end, so no other
scenario sends SMS."""

from __future__ import annotations

import asyncio
import json
import time
from functools import partial
from typing import Any

import pytest

from gateway.tools.sim_control import send_line
from hil_tests.bringup import RigEdges
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform, data_is
from hil_tests.report import ScenarioResult

pytestmark = [pytest.mark.timeout(150), pytest.mark.asyncio(loop_scope="session")]

SMS_AFTER_S = 3.0
DAUGHTER = "+8613800138001"
CENTRE = "+8657912345678"
CONTACTS = [
    {"label": "女儿", "number": DAUGHTER, "role": "guardian"},
    {"label": "县呼叫中心", "number": CENTRE, "role": "call_centre"},
]


async def _push_modem(rig: RigRunner, platform: Platform, modem: dict[str, Any]) -> None:
    """Publish a desired document carrying ``[modem]`` and wait until the gateway reports it applied."""
    version = int(time.time() * 1000)
    doc = {"version": version, "gateway": rig.gateway_id, "modem": modem}
    await platform.send_retained("config/desired", doc)

    def applied() -> bool:
        for topic, payload, _ in reversed(platform.col.messages):
            if topic == platform.topic("config/reported") and payload:
                report = json.loads(payload)
                if report.get("version") == version:
                    assert report.get("state") == "applied", report
                    return True
        return False

    try:
        await platform.col.wait_for(lambda c: applied(), timeout=15)
    finally:
        await platform.send_retained("config/desired", None)


def _texts(platform: Platform, since: float, alarm_id: str) -> list[dict[str, Any]]:
    """The ``alarm.sms_sent`` events about one alarm that arrived since ``since``."""
    return [
        ev
        for t, _, ev in platform.col.arrivals
        if t >= since and ev["kind"] == "alarm.sms_sent" and ev["data"].get("alarm") == alarm_id
    ]


def _told_resolved(platform: Platform, since: float, alarm_id: str, _col: object) -> bool:
    """Both contacts also got the alarm's "resolved" notice."""
    return len(_texts(platform, since, alarm_id)) >= 4


async def test_second_path_sms_while_broker_down(
    rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult
) -> None:
    """Per sample: broker stopped, a press; both contacts' SMS reach ModemManager within ``sms_after_s`` + 2 s; the
    daughter replies "收到"; broker back: the alarm, its two ``alarm.sms_sent`` and its ``alarm.acknowledged``
    ``by: "sms"`` arrive in that order (by ``seq``)."""
    if rig.modem is None:
        pytest.skip("not on this rig: no 4G modem the suite can watch ([modem] mode = 'mock')")
    if rig.broker is None:
        pytest.skip("not on this rig: the rig's broker is not started by the suite, so the suite cannot stop it")
    assert rig.gateway is not None
    modem = rig.modem
    device = edges.call_device(rig)
    edge = edges.get(device.edge)
    assert edge is not None
    dev_id = rig.device_ids[device.name]
    settings = {
        "enabled": True,
        "elder_name": "王奶奶",
        "contacts": CONTACTS,
        "sms_after_s": SMS_AFTER_S,
        "call_after_s": 3600,  # nobody is called in this scenario: the reply comes first
    }
    await _push_modem(rig, platform, settings)
    try:
        for i in range(min(rig.rig.samples, 3)):
            before = len(modem.records("sms"))
            await asyncio.to_thread(rig.broker.stop)
            t0 = time.monotonic()
            await edge.trigger(device, f"second-path-{i}")
            while len(modem.records("sms")) < before + 2:
                assert time.monotonic() - t0 < SMS_AFTER_S + 2, (
                    f"no SMS within sms_after_s + 2 s: {modem.records('sms')}"
                )
                await asyncio.sleep(0.02)
            result.latencies_ms.append((time.monotonic() - t0) * 1000)
            sent = modem.records("sms")[before:]
            assert sorted(r["number"] for r in sent) == sorted([DAUGHTER, CENTRE]), sent
            assert all(r["status"] == "sent" and "王奶奶" in r["text"] for r in sent), sent
            assert await send_line(modem.control, "inject 13800138001 收到") == "ok"
            await asyncio.sleep(1.0)  # the reply is read and acknowledged while the broker is still down
            await asyncio.to_thread(rig.broker.start)
            back = time.monotonic()
            _, alarm = await platform.wait(t0, "alarm.emergency_call", dev_id, timeout=30)
            _, ack = await platform.wait(t0, "alarm.acknowledged", where=data_is("alarm", alarm["id"]), timeout=30)
            assert ack["data"]["by"] == "sms" and ack["data"]["note"] == "女儿", ack
            texts = _texts(platform, t0, alarm["id"])
            assert [ev["data"]["message"] for ev in texts] == ["fallback", "fallback"], texts
            assert all(ev["data"]["ok"] for ev in texts), texts
            assert alarm["seq"] < min(ev["seq"] for ev in texts) and max(ev["seq"] for ev in texts) < ack["seq"]
            await platform.close_alarm(alarm["id"], back)
            # closing it sends the contacts a short "resolved" notice: let those go before the next press
            await platform.col.wait_for(partial(_told_resolved, platform, t0, alarm["id"]), timeout=15)
        assert modem.records("call") == []
    finally:
        if rig.broker.proc is None or rig.broker.proc.poll() is not None:
            await asyncio.to_thread(rig.broker.start)
        await _push_modem(rig, platform, {"enabled": False})
    result.reason = (
        f"device {device.name}; latency: press (broker stopped) -> both contacts' SMS at ModemManager; "
        "reply acknowledged by sms, delivered in order once the broker is back"
    )
