"""The modem driver as the second path's Cellular port, while the driver is still loading and once it runs."""

from __future__ import annotations

from core.phone import IncomingSms
from core.signal import Signal
from gateway.failover.cellular import DriverCellular
from tests.failover.fakes import FakeModem


async def test_no_modem_until_the_driver_starts_then_everything_goes_through_it() -> None:
    drivers: dict[str, object] = {}
    started: Signal[str] = Signal("driver_started")
    port = DriverCellular(drivers, started)
    heard: list[IncomingSms] = []
    port.incoming_sms.connect(heard.append)

    assert port.sms_blocked() == "no_modem"
    assert (await port.send_sms("+8613800000001", "help")).detail == "no_modem"
    assert (await port.call("+8613800000001", 30)).detail == "no_modem"
    assert await port.was_sent("+8613800000001", "help") is None

    modem = FakeModem(answer=("+8613800000001",))
    drivers["modem"] = modem
    started.emit("modem")
    modem.reply("+8613800000002", "1")  # a reply before anything was sent: forwarded all the same
    assert heard == [IncomingSms("+8613800000002", "1")]

    assert port.sms_blocked() is None
    assert (await port.send_sms("+8613800000001", "help")).ok
    assert modem.sms == [("+8613800000001", "help")]
    assert (await port.call("+8613800000001", 30)).answered

    started.emit("modem")  # a second start of the same name does not forward twice
    modem.reply("+8613800000002", "ok")
    assert len(heard) == 2


async def test_another_driver_starting_is_ignored_and_a_non_modem_is_not_used() -> None:
    drivers: dict[str, object] = {"modem": object()}
    started: Signal[str] = Signal("driver_started")
    port = DriverCellular(drivers, started)
    started.emit("sim")
    assert port.sms_blocked() == "no_modem"
