"""The modem driver against the mocked ModemManager, through the real dbus-fast client."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

import pytest

from core.phone import IncomingSms
from drivers.modem import ModemDriver
from drivers.modem.state import CellularHealth
from gateway.ports import Cellular
from sims.modem import MockModemProcesses, ModemControl
from tests.drivers.ble.fakes import FakeSink
from tests.drivers.modem.conftest import DriverFactory

GUARDIAN = "+8613800138000"
CENTRE = "+8610012345678"


async def until(driver: ModemDriver, check: Callable[[CellularHealth], bool], within: float = 5.0) -> CellularHealth:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        health = driver.modem.health()
        if check(health):
            return health
        if loop.time() > deadline:
            raise AssertionError(f"modem health never matched: {health}")
        await asyncio.sleep(0.02)


async def ready(make_driver: DriverFactory, **overrides: object) -> ModemDriver:
    driver = await make_driver(**overrides)
    await until(driver, lambda h: h.ready)
    return driver


async def test_health_of_a_registered_modem(mm: ModemControl, make_driver: DriverFactory, sink: FakeSink) -> None:
    driver = await ready(make_driver)
    h = driver.modem.health()
    assert (h.present, h.sim, h.registration, h.registered, h.roaming) == (True, "ok", "home", True, False)
    assert (h.technology, h.signal_pct, h.operator, h.model) == ("lte", 75, "CHINA MOBILE", "Quectel EC25")
    await sink.wait_for(lambda s: ("modem", True, "ready") in s.radio_calls)
    dh = driver.health()
    assert dh.state == "up" and "signal 75%" in dh.detail and dh.counters["signal_pct"] == 75
    await mm.set_registration("roaming")
    await mm.set_signal(31)
    h = await until(driver, lambda h: h.roaming and h.signal_pct == 31)
    assert h.ready and h.registration == "roaming"


async def test_long_chinese_sms_is_one_send_with_the_text_intact(mm: ModemControl, make_driver: DriverFactory) -> None:
    driver = await ready(make_driver)
    assert isinstance(driver, Cellular) and driver.sms_blocked() is None  # the port the second path uses
    text = "【紧急呼叫】张奶奶（卧室）拉绳报警，时间 21:07。请回复“1”或“收到”确认。" * 8  # ~350 chars: 6 UCS-2 parts
    result = await driver.send_sms(GUARDIAN, text)
    assert result.ok and result.detail == "sent"
    sent = mm.records("sms")
    assert len(sent) == 1
    assert sent[0] == {**sent[0], "status": "sent", "number": GUARDIAN, "text": text}
    assert driver.modem.health().last_sms == result
    assert driver.modem.health().counters["sms_sent"] == 1


async def test_incoming_sms_reaches_the_signal_and_is_deleted(mm: ModemControl, make_driver: DriverFactory) -> None:
    driver = await ready(make_driver)
    got: list[IncomingSms] = []
    driver.incoming_sms.connect(got.append)
    await mm.inject_sms(GUARDIAN, "收到", receive_ms=200)  # multi-part still arriving for 200 ms
    await until(driver, lambda _h: bool(got))
    assert [(m.number, m.text) for m in got] == [(GUARDIAN, "收到")]
    await until(driver, lambda h: h.counters.get("sms_received") == 1)
    await asyncio.sleep(0.2)
    assert len(got) == 1


async def test_sms_received_while_the_gateway_was_down_is_read_at_start(
    mm: ModemControl, make_driver: DriverFactory
) -> None:
    await mm.inject_sms(CENTRE, "ok", receive_ms=0)
    driver = await make_driver()
    got: list[IncomingSms] = []
    driver.incoming_sms.connect(got.append)
    await until(driver, lambda h: h.counters.get("sms_received") == 1)
    # it may have been emitted before we connected: the counter proves it was read; a new one must arrive too
    await mm.inject_sms(CENTRE, "好", receive_ms=0)
    await until(driver, lambda _h: any(m.text == "好" for m in got))


@pytest.mark.parametrize(
    ("mode", "answered", "outcome"),
    [
        ("answer", True, "answered"),
        ("busy", False, "busy"),
        ("no_answer", False, "no_answer"),
        ("fail", False, "failed"),
    ],
)
async def test_call_outcomes(
    mm: ModemControl, make_driver: DriverFactory, mode: str, answered: bool, outcome: str
) -> None:
    driver = await ready(make_driver)
    await mm.set_call_mode(mode, after_ms=200)
    result = await driver.modem.call(CENTRE, ring_timeout_s=1.0)
    assert (result.answered, result.detail) == (answered, outcome)
    if mode == "no_answer":
        assert 0.9 <= result.ring_s < 2.5
    else:
        assert result.ring_s < 0.9
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3
    while not mm.records("call") and loop.time() < deadline:  # an answered call ends after hold_s
        await asyncio.sleep(0.02)
    calls = mm.records("call")
    assert [(c["number"], c["outcome"]) for c in calls] == [(CENTRE, outcome)]


async def test_modem_removed_mid_send(mm: ModemControl, make_driver: DriverFactory, sink: FakeSink) -> None:
    driver = await ready(make_driver, send_timeout_s=30)
    await mm.set_send_mode("remove", delay_ms=100)
    t0 = asyncio.get_running_loop().time()
    result = await asyncio.wait_for(driver.modem.send_sms(GUARDIAN, "报警"), 5)
    assert (result.ok, result.detail) == (False, "modem_removed")
    assert asyncio.get_running_loop().time() - t0 < 3
    h = await until(driver, lambda h: not h.present)
    assert h.not_ready == "no_modem" and driver.health().state == "down"
    await sink.wait_for(lambda s: ("modem", False, "no modem (ModemManager sees none)") in s.radio_calls)
    again = await driver.modem.send_sms(GUARDIAN, "报警")
    assert (again.ok, again.detail) == (False, "no_modem")
    assert driver.sms_blocked() == "no_modem"
    await mm.add_modem()
    await until(driver, lambda h: h.ready)
    await mm.set_send_mode("ok")
    assert (await driver.modem.send_sms(GUARDIAN, "报警")).ok
    await sink.wait_for(lambda s: s.radio_calls[-1] == ("modem", True, "ready"))


async def test_send_without_reply_times_out(mm: ModemControl, make_driver: DriverFactory) -> None:
    driver = await ready(make_driver, send_timeout_s=0.5)
    await mm.set_send_mode("hang")
    result = await driver.modem.send_sms(GUARDIAN, "报警")
    assert (result.ok, result.detail) == (False, "timeout")


async def test_send_refused_by_the_network(mm: ModemControl, make_driver: DriverFactory) -> None:
    driver = await ready(make_driver)
    await mm.set_send_mode("fail")
    result = await driver.modem.send_sms(GUARDIAN, "报警")
    assert (result.ok, result.detail) == (False, "send_failed: MessageError.NetworkTimeout")
    assert "last SMS send_failed: MessageError.NetworkTimeout" in driver.health().detail
    assert driver.modem.health().counters["sms_failed"] == 1


async def test_sim_missing(mm: ModemControl, make_driver: DriverFactory, sink: FakeSink) -> None:
    driver = await ready(make_driver)
    await mm.set_sim("missing")
    h = await until(driver, lambda h: not h.ready)
    assert (h.present, h.sim, h.not_ready, h.state) == (True, "missing", "sim_missing", "failed")
    assert driver.health().state == "degraded"
    await sink.wait_for(lambda s: ("modem", False, "SIM card missing") in s.radio_calls)
    result = await driver.modem.send_sms(GUARDIAN, "报警")
    assert (result.ok, result.detail) == (False, "sim_missing")
    assert driver.sms_blocked() == "sim_missing"
    call = await driver.call(CENTRE, 1)
    assert (call.answered, call.detail) == (False, "sim_missing")
    assert mm.records("sms") == [] and mm.records("call") == []


async def test_sim_locked(mm: ModemControl, make_driver: DriverFactory, sink: FakeSink) -> None:
    driver = await ready(make_driver)
    await mm.set_sim("pin")
    h = await until(driver, lambda h: not h.ready)
    assert (h.sim, h.not_ready) == ("locked:sim-pin", "sim_locked")
    await sink.wait_for(lambda s: ("modem", False, "SIM locked (PIN/PUK required)") in s.radio_calls)
    await mm.set_sim("ok")
    await until(driver, lambda h: h.ready)


@pytest.mark.parametrize("state", ["denied", "searching", "idle"])
async def test_not_registered(mm: ModemControl, make_driver: DriverFactory, sink: FakeSink, state: str) -> None:
    driver = await ready(make_driver)
    await mm.set_registration(state)
    h = await until(driver, lambda h: not h.ready)
    assert (h.registration, h.registered, h.not_ready) == (state, False, "not_registered")
    result = await driver.modem.send_sms(GUARDIAN, "报警")
    assert (result.ok, result.detail) == (False, "not_registered")
    await sink.wait_for(lambda s: ("modem", False, "not registered on the cellular network") in s.radio_calls)
    await mm.set_registration("home")
    await until(driver, lambda h: h.ready)
    assert mm.records("sms") == []


async def test_no_modem_at_start_then_plugged_in(mm: ModemControl, make_driver: DriverFactory, sink: FakeSink) -> None:
    await mm.remove_modem()
    driver = await make_driver()
    await sink.wait_for(lambda s: ("modem", False, "no modem (ModemManager sees none)") in s.radio_calls)
    assert driver.health().state == "down"
    await mm.add_modem(registration="searching")
    h = await until(driver, lambda h: h.present)
    assert not h.ready and h.not_ready == "not_registered"
    await mm.set_registration("home")
    await until(driver, lambda h: h.ready)


async def test_modem_manager_restart(
    mm_procs: MockModemProcesses, mm: ModemControl, make_driver: DriverFactory
) -> None:
    driver = await ready(make_driver)
    mm_procs.stop_mm()
    await until(driver, lambda h: not h.present)
    mm_procs.start_mm()
    await until(driver, lambda h: h.ready)
    async with ModemControl(mm_procs.address, mm_procs.record) as ctl:
        assert (await driver.modem.send_sms(GUARDIAN, "恢复")).ok
        assert [r["text"] for r in ctl.records("sms")] == ["恢复"]


async def test_no_bus_is_reported_and_retried(tmp_path: object, make_driver: DriverFactory, sink: FakeSink) -> None:
    driver = await make_driver(bus_address="unix:path=/nonexistent/fbgw-test-bus")
    await until(driver, lambda _h: driver.modem.bus_error != "")
    await sink.wait_for(lambda s: any(c[0] == "modem" and not c[1] and "system bus" in c[2] for c in s.radio_calls))
    assert driver.health().state == "down"
    assert (await driver.modem.send_sms(GUARDIAN, "x")).detail == "no_modem"


async def test_phone_numbers_never_reach_the_log(
    mm: ModemControl, make_driver: DriverFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    driver = await ready(make_driver)
    await driver.modem.send_sms(GUARDIAN, "报警")
    await mm.set_send_mode("fail")
    await driver.modem.send_sms(GUARDIAN, "报警")
    await mm.set_call_mode("busy", 50)
    await driver.modem.call(CENTRE, 1)
    got: list[IncomingSms] = []
    driver.incoming_sms.connect(got.append)
    await mm.inject_sms(GUARDIAN, "1")
    await until(driver, lambda _h: bool(got))
    assert "modem" in caplog.text
    assert GUARDIAN not in caplog.text and CENTRE not in caplog.text and "13800138000" not in caplog.text


async def test_a_modem_still_probing_at_boot_is_reported_only_after_the_grace(
    mm: ModemControl, make_driver: DriverFactory, sink: FakeSink
) -> None:
    await mm.remove_modem()
    await make_driver(startup_grace_s=0.6)
    await asyncio.sleep(0.3)
    assert [c for c in sink.radio_calls if c[0] == "modem"] == []
    await sink.wait_for(lambda s: ("modem", False, "no modem (ModemManager sees none)") in s.radio_calls, within=3)


async def test_a_modem_ready_within_the_grace_is_reported_up_at_once(
    mm: ModemControl, make_driver: DriverFactory, sink: FakeSink
) -> None:
    await make_driver(startup_grace_s=30)
    await sink.wait_for(lambda s: ("modem", True, "ready") in s.radio_calls, within=3)
    assert [c for c in sink.radio_calls if c[0] == "modem"] == [("modem", True, "ready")]


async def test_an_answered_call_is_hung_up_after_hold_or_at_stop(mm: ModemControl, make_driver: DriverFactory) -> None:
    driver = await ready(make_driver, hold_s=30)
    await mm.set_call_mode("answer", after_ms=50)
    assert (await driver.modem.call(CENTRE, 2)).answered
    await asyncio.sleep(0.3)
    assert mm.records("call") == []  # still up: held for hold_s
    await driver.stop()
    assert [(c["number"], c["outcome"]) for c in mm.records("call")] == [(CENTRE, "answered")]  # hung up at stop


_SENDER = """
import asyncio, sys
from drivers.modem.config import ModemSection
from drivers.modem.modem import ModemManagerModem

async def main() -> None:
    modem = ModemManagerModem(ModemSection(bus_address=sys.argv[1], startup_grace_s=0))
    await modem.start()
    while not modem.health().ready:
        await asyncio.sleep(0.01)
    print("SENDING", flush=True)
    await modem.send_sms(sys.argv[2], sys.argv[3])
    print("DONE", flush=True)

asyncio.run(main())
"""


async def test_was_sent_after_the_gateway_was_killed_mid_send(
    mm_procs: MockModemProcesses, mm: ModemControl, make_driver: DriverFactory
) -> None:
    """kill -9 while ModemManager is sending: it finishes on its own; after the restart, ``was_sent`` finds it (and
    waits while it is still sending), so the second path neither sends it twice nor loses it."""
    text = "【紧急呼叫】王爷爷（客厅）按钮报警"
    await mm.set_send_mode("ok", delay_ms=1500)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SENDER, mm_procs.address, GUARDIAN, text, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    assert (await asyncio.wait_for(child.stdout.readline(), 10)).strip() == b"SENDING"
    await asyncio.sleep(0.4)
    child.kill()  # SIGKILL, mid-send
    await child.wait()
    assert mm.records("sms") == []  # still sending

    driver = await ready(make_driver)
    assert await driver.was_sent(GUARDIAN.removeprefix("+86"), text) is True  # waited for the send to end
    assert [(r["number"], r["text"]) for r in mm.records("sms")] == [(GUARDIAN, text)]
    assert await driver.was_sent(GUARDIAN, text + "!") is False
    assert await driver.was_sent(CENTRE, text) is False
    await mm.remove_modem()
    await until(driver, lambda h: not h.present)
    assert await driver.was_sent(GUARDIAN, text) is None  # no modem: cannot tell
