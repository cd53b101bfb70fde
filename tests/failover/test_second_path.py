"""The second path's policy on a ServiceContext of fakes and a fake modem (timings shortened)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from core.devices import Device
from drivers.base import Reading
from gateway.alarms.service import AlarmService
from gateway.failover import ledger
from gateway.failover.messages import alarm_sms
from gateway.failover.replies import is_ack
from gateway.failover.service import SecondPath
from gateway.outbox import Row
from gateway.settings.modem import Contact, ModemSettings
from tests.failover.fakes import FakeModem
from tests.support.context import FakeCore, fake_context
from tests.support.gateway import make_config

DAUGHTER = "+8613800138001"
SON = "+8613800138002"
CENTRE = "+8657912345678"
CORD = Device("cord-1", "pull_cord", "gpio", name="Bathroom cord", room="bathroom", capabilities=["press"])


class NoFeedback:
    current = "normal"

    def signal(self, state: str, *, device_id: str | None = None, kind: str | None = None) -> None:
        self.current = state


def settings(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "enabled": True,
        "elder_name": "王奶奶",
        "contacts": [
            {"label": "女儿", "number": "13800138001", "role": "guardian"},
            {"label": "儿子", "number": SON, "role": "guardian"},
            {"label": "县呼叫中心", "number": CENTRE, "role": "call_centre"},
        ],
        "sms_after_s": 1,
        "call_after_s": 10,
    }
    return {**base, **over}


async def started(tmp_path: Path, modem: FakeModem, **over: Any) -> tuple[FakeCore, SecondPath, AlarmService]:
    cfg = make_config(tmp_path, "mqtt://127.0.0.1:9", modem=settings(**over))
    core = fake_context(tmp_path, cfg)
    alarms = AlarmService(core.ctx, NoFeedback())
    await alarms.start()
    path = SecondPath(core.ctx, alarms, modem)
    await path.start()
    return core, path, alarms


async def until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def press(core: FakeCore) -> Any:
    [call] = await core.ctx.emit(core.rules.on_reading(Reading("cord-1", "press", True), CORD))
    return call


def test_numbers_are_normalised_and_validated() -> None:
    contact = Contact(label="女儿", number="138 0013 8001")
    assert contact.number == DAUGHTER
    with pytest.raises(ValueError, match="phone number"):
        Contact(label="x", number="12345")
    with pytest.raises(ValueError, match="once"):
        ModemSettings(contacts=[Contact(label="a", number=SON), Contact(label="b", number=SON)])


@pytest.mark.parametrize("text", ["1", "１", "收到", "好", "OK", "ok。", " Ｏｋ ", "好的！"])
def test_acknowledging_replies(text: str) -> None:
    assert is_ack(text)


@pytest.mark.parametrize(
    "text", ["", "2", "不好", "ok but who is this", "1" * 100, "收到收到收到收到收到收到收到收到收到"]
)
def test_other_replies(text: str) -> None:
    assert not is_ack(text)


def test_alarm_sms_says_who_what_where_when_and_how_to_answer() -> None:
    text = alarm_sms(
        elder="王奶奶", kind="alarm.emergency_call", room="bathroom", ts_ms=1_765_000_000_000,
        timezone="Asia/Shanghai", lang="zh", synced=True,
    )  # fmt: skip
    assert "王奶奶" in text and "卫生间" in text and "紧急呼叫" in text and "回复1" in text
    assert "12-06 13:46" in text  # Beijing time
    unsure = alarm_sms(
        elder="", kind="alarm.gas", room="kitchen", ts_ms=0, timezone="Asia/Shanghai", lang="en", synced=False
    )
    assert "gas" in unsure and "kitchen" in unsure and "clock unsure" in unsure


async def test_no_puback_in_time_texts_every_contact_once(tmp_path: Path) -> None:
    modem = FakeModem()
    core, path, alarms = await started(tmp_path, modem)
    call = await press(core)
    await until(lambda: len(modem.sms) == 3)
    assert sorted(n for n, _ in modem.sms) == sorted([DAUGHTER, SON, CENTRE])
    assert all("王奶奶" in text and "卫生间" in text for _, text in modem.sms)
    await until(lambda: core.kinds().count("alarm.sms_sent") == 3)
    sent = [e.data for e in core.emitted if e.kind == "alarm.sms_sent"]
    assert all(d["alarm"] == call.id and d["message"] == "fallback" and d["ok"] for d in sent)
    assert {d["contact"] for d in sent} == {"女儿", "儿子", "县呼叫中心"}
    await press(core)  # a repeat press: the same open alarm, nothing more is sent
    await asyncio.sleep(1.2)
    assert len(modem.sms) == 3
    await path.stop()
    await alarms.stop()


async def test_puback_in_time_sends_nothing(tmp_path: Path) -> None:
    modem = FakeModem()
    core, path, alarms = await started(tmp_path, modem, sms_after_s=2)
    call = await press(core)
    core.uplink.delivered.emit([Row(call.seq, 0, call.to_bytes())])
    await asyncio.sleep(2.3)
    assert modem.sms == [] and "alarm.sms_sent" not in core.kinds()
    await path.stop()
    await alarms.stop()


async def test_uplink_already_down_texts_at_once(tmp_path: Path) -> None:
    modem = FakeModem()
    core, path, alarms = await started(tmp_path, modem, sms_after_s=30)
    core.uplink.go(False)
    await press(core)
    await until(lambda: len(modem.sms) == 3, timeout=2)
    await path.stop()
    await alarms.stop()


async def test_a_reply_acknowledges_and_nobody_is_called(tmp_path: Path) -> None:
    modem = FakeModem()
    core, path, alarms = await started(tmp_path, modem, call_after_s=10)
    call = await press(core)
    await until(lambda: len(modem.sms) == 3)
    modem.reply("13800138001", "收到")  # the daughter, without +86
    await until(lambda: "alarm.acknowledged" in core.kinds())
    ack = next(e for e in core.emitted if e.kind == "alarm.acknowledged")
    assert ack.data["alarm"] == call.id and ack.data["by"] == "sms" and ack.data["note"] == "女儿"
    modem.reply("+8613911112222", "1")  # a stranger: ignored and counted
    await until(lambda: path.stats["replies_unknown"] == 1)
    assert modem.calls == []
    await path.stop()
    await alarms.stop()


async def test_nobody_answers_so_the_call_centre_then_guardians_are_called(tmp_path: Path) -> None:
    modem = FakeModem(answer=(SON,))
    core, path, alarms = await started(tmp_path, modem, call_after_s=10)
    path._raised_mono = {k: v - 9 for k, v in path._raised_mono.items()}
    call = await press(core)
    path._raised_mono[call.id] -= 9.5
    await until(lambda: len(modem.calls) == 3, timeout=5)
    assert modem.calls == [CENTRE, DAUGHTER, SON]  # centre first, then guardians in order, until one answers
    await until(lambda: core.kinds().count("alarm.call_placed") == 3)
    placed = [e.data for e in core.emitted if e.kind == "alarm.call_placed"]
    assert [(p["contact"], p["answered"]) for p in placed] == [("县呼叫中心", False), ("女儿", False), ("儿子", True)]
    await path.stop()
    await alarms.stop()


async def test_resolved_alarm_sends_one_short_sms_to_those_told(tmp_path: Path) -> None:
    modem = FakeModem()
    core, path, alarms = await started(tmp_path, modem)
    call = await press(core)
    await until(lambda: len(modem.sms) == 3)
    await alarms.ack(call.id, by="op-7", action="close")
    await until(lambda: len(modem.sms) == 6)
    assert all("已处理" in text for _, text in modem.sms[3:])
    await until(lambda: core.kinds().count("alarm.sms_sent") == 6)
    messages = [e.data["message"] for e in core.emitted if e.kind == "alarm.sms_sent"]
    assert messages == ["fallback"] * 3 + ["resolved"] * 3
    await path.stop()
    await alarms.stop()


async def test_always_policy_texts_guardians_at_once_even_when_delivered(tmp_path: Path) -> None:
    modem = FakeModem()
    core, path, alarms = await started(tmp_path, modem, sms="always", sms_after_s=5)
    call = await press(core)
    await until(lambda: len(modem.sms) == 2, timeout=2)
    assert sorted(n for n, _ in modem.sms) == [DAUGHTER, SON]  # guardians, not the call centre
    assert "平台已收到" in modem.sms[0][1]
    core.uplink.delivered.emit([Row(call.seq, 0, call.to_bytes())])
    await asyncio.sleep(0.3)
    assert len(modem.sms) == 2
    await path.stop()
    await alarms.stop()


async def test_no_modem_or_locked_sim_sends_nothing_and_says_why(tmp_path: Path) -> None:
    modem = FakeModem(blocked="sim_missing")
    core, path, alarms = await started(tmp_path, modem)
    await press(core)
    await until(lambda: core.kinds().count("alarm.sms_sent") == 3)
    sent = [e.data for e in core.emitted if e.kind == "alarm.sms_sent"]
    assert {(d["ok"], d["detail"]) for d in sent} == {(False, "sim_missing")} and modem.sms == []
    assert path.stats["sms_failed"] == 3
    await path.stop()
    await alarms.stop()


async def test_budget_limits_notices_never_alarms(tmp_path: Path) -> None:
    modem = FakeModem()
    core, path, alarms = await started(tmp_path, modem, sms_budget_per_month=0)
    call = await press(core)
    await until(lambda: len(modem.sms) == 3)  # alarms always go
    await alarms.ack(call.id, action="close")
    await until(lambda: core.kinds().count("alarm.sms_sent") == 6)
    resolved = [e.data for e in core.emitted if e.kind == "alarm.sms_sent" and e.data["message"] == "resolved"]
    assert {(d["ok"], d["detail"]) for d in resolved} == {(False, "budget")} and len(modem.sms) == 3
    await path.stop()
    await alarms.stop()


async def test_restart_mid_failover_sends_nothing_twice_and_loses_nothing(tmp_path: Path) -> None:
    modem = FakeModem()
    core, path, alarms = await started(tmp_path, modem)
    call = await press(core)
    await until(lambda: len(modem.sms) == 3)
    # A crash left: the daughter sent, the son "sending" (it did leave), the centre "sending" (it did not).
    book = json.loads((tmp_path / ledger.LEDGER_FILE).read_text())
    await path.stop()
    marks = book["cases"][call.id]["texted"]
    marks["儿子"] = marks["县呼叫中心"] = "sending"
    (tmp_path / ledger.LEDGER_FILE).write_text(json.dumps(book))
    son_text = next(t for n, t in modem.sms if n == SON)
    modem2 = FakeModem()
    modem2.sent_before = {(SON, son_text)}
    path2 = SecondPath(core.ctx, alarms, modem2)
    await path2.start()
    await until(lambda: len(modem2.sms) == 1)
    assert [n for n, _ in modem2.sms] == [CENTRE]  # the one that never left; nobody twice
    await asyncio.sleep(0.2)
    assert len(modem2.sms) == 1
    await path2.stop()
    await alarms.stop()


async def test_a_corrupt_ledger_is_not_fatal(tmp_path: Path) -> None:
    (tmp_path / ledger.LEDGER_FILE).write_bytes(b"\x00not json")
    modem = FakeModem()
    core, path, alarms = await started(tmp_path, modem)
    await press(core)
    await until(lambda: len(modem.sms) == 3)
    await path.stop()
    await alarms.stop()


async def test_an_sms_the_modem_could_not_send_yet_is_tried_again(tmp_path: Path) -> None:
    modem = FakeModem(blocked="not_registered")  # the 4G module has no network at the moment of the alarm
    core, path, alarms = await started(tmp_path, modem)
    await press(core)
    await until(lambda: core.kinds().count("alarm.sms_sent") == 3)
    assert modem.sms == []
    modem.blocked = None  # the network is back
    # The modem has the third SMS a moment before the second path records it: wait for both.
    await until(lambda: len(modem.sms) == 3 and core.kinds().count("alarm.sms_sent") >= 6, timeout=10)
    sent = [(e.data["contact"], e.data["ok"]) for e in core.emitted if e.kind == "alarm.sms_sent"]
    assert len(sent) == 6 and all(ok for _, ok in sent[3:])  # one failure each, then the SMS; no repeats
    await asyncio.sleep(2.5)
    assert len(modem.sms) == 3
    await path.stop()
    await alarms.stop()
