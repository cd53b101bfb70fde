"""Driver lifetime: config validation, registry, lines that are missing, busy, lost and come back."""

from __future__ import annotations

import asyncio
import errno

import pytest

from core.devices import Device
from drivers.base import DriverConfigError
from drivers.gpio import create_driver
from drivers.gpio.lines import LineError
from tests.drivers.gpio.conftest import CHIP, Rig, cord

pytestmark = pytest.mark.timeout(20)


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ({"inputs": [cord(colour="red")]}, "colour"),
        ({"inputs": [cord(kind="siren")]}, "kind"),
        ({"inputs": [cord(contact="maybe")]}, "contact"),
        ({"inputs": [cord(bias="strong")]}, "bias"),
        ({"inputs": [cord(line=-1)]}, "line"),
        ({"inputs": [cord(debounce_ms=-5)]}, "debounce_ms"),
        ({"inputs": [cord("a", 1), cord("a", 2)]}, "two inputs are named 'a'"),
        ({"inputs": [cord("a", 1), cord("b", 1)]}, "share /dev/gpiochip-fake0 line 1"),
        ({"inputs": [cord(name="Bad Name")]}, "name"),
        ({"inputs": [], "retries": 3}, "retries"),
    ],
)
async def test_malformed_section_is_a_config_error(rig: Rig, section: dict, needle: str) -> None:
    with pytest.raises(DriverConfigError) as info:
        create_driver(section, rig.ctx)
    assert "drivers.gpio" in str(info.value) and needle in str(info.value)


async def test_inputs_become_devices_with_config_name_and_room(rig: Rig) -> None:
    rig.lines.add(CHIP, 17, level=True)
    rig.lines.add(CHIP, 4, level=True)
    driver = rig.build([cord(label="卫生间拉绳"), cord("hall-door", 4, kind="door", room="hall")])
    await driver.start()
    dev = rig.registry.get("gpio-cord")
    assert dev is not None
    assert (dev.type, dev.transport, dev.name, dev.room) == ("pull_cord", "gpio", "卫生间拉绳", "bathroom")
    assert dev.capabilities == ["press", "release", "trouble", "tamper"]
    assert dev.address == f"{CHIP}:17"
    assert dev.params["contact"] == "nc" and dev.params["active_low"] is True
    door = rig.registry.get("gpio-hall-door")
    assert door is not None and door.type == "door" and door.capabilities == ["contact", "tamper"]


async def test_existing_device_keeps_technician_name_but_wiring_follows_config(rig: Rig) -> None:
    await rig.registry.upsert(
        Device(
            id="gpio-cord",
            type="pull_cord",
            transport="gpio",
            name="Grandma's cord",
            room="bath 2",
            capabilities=["press"],
            address="old:1",
        )
    )
    rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord()])
    await driver.start()
    dev = rig.registry.get("gpio-cord")
    assert dev is not None
    assert (dev.name, dev.room) == ("Grandma's cord", "bath 2")
    assert dev.address == f"{CHIP}:17" and "tamper" in dev.capabilities


async def test_missing_chip_is_reported_and_other_inputs_keep_working(rig: Rig) -> None:
    good = rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord(), cord("bedroom-button", 27, chip="/dev/gpiochip9", contact="no")])
    await driver.start()  # must not raise

    health = driver.health()
    assert health.state == "degraded"
    assert "gpio input 'bedroom-button' (/dev/gpiochip9 line 27): no such GPIO chip /dev/gpiochip9" in health.detail
    assert health.counters["line_errors"] == 1
    assert len(rig.sink.radio_calls) == 1
    transport, up, reason = rig.sink.radio_calls[0]
    assert (transport, up) == ("gpio", False)
    assert "/dev/gpiochip9 line 27" in reason and "bedroom-button" in reason
    assert rig.sink.availability_calls == [("gpio-bedroom-button", False, health.detail)]
    assert rig.registry.get("gpio-bedroom-button") is not None  # configured, shown, marked offline

    good.edge(False)
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)
    assert rig.sink.of("press")[0].device == "gpio-cord"


async def test_path_that_is_not_a_gpio_chip(rig: Rig) -> None:
    driver = rig.build([cord(chip="/dev/null")])
    await driver.start()
    assert driver.health().state == "down"
    assert driver.health().detail == "gpio input 'cord' (/dev/null line 17): /dev/null is not a GPIO chip"


async def test_busy_line_then_freed_is_picked_up_by_retry(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    busy = LineError(errno.EBUSY, "gpio input 'cord' (/dev/gpiochip-fake0 line 17): line is busy (used by 'other')")
    rig.lines.failures[(CHIP, "17")] = busy
    driver = rig.build([cord()], retry_s=0.05)
    await driver.start()
    assert driver.health().state == "down"
    assert "line is busy (used by 'other')" in driver.health().detail
    assert rig.sink.radio_calls[-1][:2] == ("gpio", False)

    del rig.lines.failures[(CHIP, "17")]  # the other program let go
    await rig.sink.wait_for(lambda s: s.radio_calls[-1][1] is True, timeout=2)
    assert driver.health().state == "up"
    assert rig.sink.availability_calls[-1] == ("gpio-cord", True, "line requested")
    pipe.edge(False)
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)


async def test_retry_does_not_repeat_the_same_error(rig: Rig) -> None:
    driver = rig.build([cord(chip="/dev/gpiochip9")], retry_s=0.02)
    await driver.start()
    await asyncio.sleep(0.15)
    assert len(rig.sink.radio_calls) == 1
    assert len(rig.lines.requests) >= 3  # it kept trying


async def test_line_lost_while_running_is_reported(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord()], retry_s=0)
    await driver.start()
    pipe.unplug()  # the chip went away: the next read fails
    await rig.sink.wait_for(lambda s: len(s.radio_calls) == 1)
    assert rig.sink.radio_calls[0][:2] == ("gpio", False)
    assert "line lost" in rig.sink.radio_calls[0][2] and "line 17" in rig.sink.radio_calls[0][2]
    assert driver.health().state == "down"
    assert pipe.closed  # released, and no longer watched


async def test_rejected_reading_is_counted_not_fatal(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    calls = 0

    def reject_first(_r: object) -> Exception | None:
        nonlocal calls
        calls += 1
        return ValueError("bad reading") if calls == 1 else None

    rig.sink._reject = reject_first
    driver = rig.build([cord()])
    await driver.start()
    pipe.edge(False)
    await asyncio.sleep(0.08)
    pipe.edge(True)
    await asyncio.sleep(0.05)
    pipe.edge(False)
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)
    assert driver.health().counters["readings_rejected"] == 1


async def test_stop_releases_lines_and_delivers_queued_readings(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord(debounce_ms=0)])
    await driver.start()
    pipe.edge(False)
    await asyncio.sleep(0.02)
    await driver.stop()
    assert pipe.closed
    assert driver.health().state == "stopped"
    assert len(rig.sink.of("press")) == 1


async def test_remove_releases_line_and_forgets_device(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord()])
    await driver.start()
    await driver.remove("gpio-cord")
    assert pipe.closed and rig.registry.get("gpio-cord") is None


async def test_pairing_explains_inputs_are_configured(rig: Rig) -> None:
    driver = rig.build([])
    await driver.start()
    await driver.start_pairing(60)
    assert [p.stage for p in rig.sink.pairings] == ["failed", "closed"]
    assert "[drivers.gpio]" in rig.sink.pairings[0].detail
    assert driver.health().state == "up"
