"""Wired inputs through the real asyncio reader path: edges written into a pipe, readings out of the driver.

Levels are logical (the kernel applies active-low): True = contacts closed.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.drivers.gpio.conftest import CHIP, Rig, cord

pytestmark = pytest.mark.timeout(20)

DEV = "gpio-cord"


async def quiet(seconds: float) -> None:
    """Let timers run; used before asserting that something did NOT happen."""
    await asyncio.sleep(seconds)


async def test_nc_pull_cord_press_carries_kernel_timestamps(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)  # NC loop closed: idle
    driver = rig.build([cord()])
    await driver.start()
    assert rig.sink.readings == []  # an idle loop reports nothing at start

    ts = pipe.edge(False)  # the cord is pulled: the loop opens
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)
    press = rig.sink.of("press")[0]
    assert press.device == DEV and press.value is True
    assert press.meta["event"] == "press"
    assert press.meta["ts_ns"] == ts and press.meta["settled_ns"] == ts
    assert press.mono_ms == ts // 1_000_000
    assert press.meta["chip"] == CHIP and press.meta["line"] == 17

    time.sleep(0.05)
    released = pipe.edge(True)  # let go: its own capability (a press has no "false"), with how long it was held
    await rig.sink.wait_for(lambda s: len(s.of("release")) == 1)
    assert rig.sink.values() == [("press", True, "press"), ("release", True, "release")]
    release = rig.sink.of("release")[0]
    assert release.meta["ts_ns"] == released and release.meta["held_ms"] == (released - ts) // 1_000_000
    assert release.meta["held_ms"] >= 50
    assert driver.health().counters["releases"] == 1
    channel = driver.channel("cord")
    assert channel is not None and channel.last_release_ms is not None


async def test_bounce_burst_gives_one_press_stamped_at_first_edge(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord(debounce_ms=30)])
    await driver.start()

    # A bouncing contact: 9 edges 0.2 ms apart, ending open.
    stamps = pipe.edges([False, True, False, True, False, True, False, True, False])
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)
    await quiet(0.1)
    presses = rig.sink.of("press")
    assert len(presses) == 1
    assert presses[0].meta["ts_ns"] == stamps[0]
    assert presses[0].meta["settled_ns"] == stamps[-1]
    assert presses[0].meta["edges"] == 9
    assert driver.health().counters["edges"] == 9
    assert driver.health().counters["bounces"] == 1


async def test_edges_spread_over_time_settle_only_after_quiet(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord(debounce_ms=40)])
    await driver.start()

    t0 = time.monotonic()
    for level in [False, True, False, True, False]:  # 10 ms apart: never quiet for 40 ms
        pipe.edge(level)
        await asyncio.sleep(0.01)
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.04 + 0.04  # four gaps of 10 ms plus the 40 ms of quiet
    await quiet(0.1)
    assert len(rig.sink.of("press")) == 1


async def test_glitch_shorter_than_debounce_is_dropped(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord(debounce_ms=30)])
    await driver.start()

    pipe.edges([False, True, False, True])  # noise on a long cord: back to closed within 1 ms
    await quiet(0.15)
    assert rig.sink.readings == []
    assert driver.health().counters["glitches"] == 1

    pipe.edge(False)  # a real pull afterwards still works
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)


async def test_long_press_reported_as_press_with_event(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 5, level=False)
    button = cord("btn", 5, kind="call_button", contact="no", debounce_ms=10, long_press_ms=150)
    driver = rig.build([button])
    await driver.start()

    ts = pipe.edge(True)
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 2, timeout=2)
    first, long = rig.sink.of("press")
    assert first.meta["event"] == "press"
    assert long.value is True and long.meta["event"] == "long_press"
    assert long.meta["ts_ns"] == ts  # when the press began
    assert long.meta["held_ms"] >= 150
    assert (long.mono_ms - first.mono_ms) >= 150

    pipe.edge(False)
    await quiet(0.05)
    assert len(rig.sink.of("press")) == 2


async def test_short_press_has_no_long_press(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 5, level=False)
    driver = rig.build([cord("btn", 5, kind="call_button", contact="no", debounce_ms=10, long_press_ms=150)])
    await driver.start()

    pipe.edge(True)
    await asyncio.sleep(0.05)
    pipe.edge(False)
    await quiet(0.3)
    assert [r.meta["event"] for r in rig.sink.of("press")] == ["press"]


async def test_cut_nc_loop_is_tamper_not_quiet(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord(cut_after_ms=200)])
    await driver.start()

    pipe.edge(False)  # the wire is cut: the loop opens and stays open
    await rig.sink.wait_for(lambda s: len(s.of("tamper")) == 1, timeout=2)
    press, tamper = rig.sink.readings
    assert (press.capability, press.value) == ("press", True)  # cannot be told apart from a pull at first
    assert (tamper.capability, tamper.value) == ("tamper", True)
    assert tamper.meta["event"] == "loop_open" and tamper.meta["open_ms"] >= 200
    assert tamper.mono_ms - press.mono_ms >= 200
    channel = driver.channel("cord")
    assert channel is not None and channel.tamper

    pipe.edge(True)  # repaired
    await rig.sink.wait_for(lambda s: len(s.of("tamper")) == 2)
    assert rig.sink.of("tamper")[1].value is False
    assert rig.sink.of("tamper")[1].meta["event"] == "loop_restored"


async def test_short_pull_on_supervised_loop_is_no_tamper(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord(cut_after_ms=200)])
    await driver.start()

    pipe.edge(False)
    await asyncio.sleep(0.08)
    pipe.edge(True)
    await quiet(0.35)
    assert rig.sink.values(DEV) == [("press", True, "press"), ("release", True, "release")]  # no tamper


async def test_nc_loop_open_at_start_is_tamper(rig: Rig) -> None:
    rig.lines.add(CHIP, 17, level=False)  # loop already open when the gateway starts
    driver = rig.build([cord(cut_after_ms=10_000)])
    await driver.start()
    await rig.sink.wait_for(lambda s: len(s.readings) == 1)
    assert rig.sink.values() == [("tamper", True, "loop_open_at_start")]
    assert rig.sink.of("press") == []


async def test_no_button_closed_at_start_is_trouble_until_released(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 5, level=True)
    driver = rig.build([cord("btn", 5, kind="call_button", contact="no")])
    await driver.start()
    await rig.sink.wait_for(lambda s: len(s.readings) == 1)
    assert rig.sink.values() == [("trouble", True, "stuck_at_start")]

    pipe.edge(False)
    await rig.sink.wait_for(lambda s: len(s.readings) == 2)
    assert rig.sink.values()[1] == ("trouble", False, "released")
    pipe.edge(True)  # now a genuine press
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)


@pytest.mark.parametrize(
    ("contact", "idle", "asserted"),
    [("no", False, True), ("nc", True, False)],
)
async def test_no_and_nc_assert_on_opposite_levels(rig: Rig, contact: str, idle: bool, asserted: bool) -> None:
    pipe = rig.lines.add(CHIP, 3, level=idle)
    driver = rig.build([cord("c", 3, contact=contact)])
    await driver.start()
    pipe.edge(idle)  # an edge to the level it already has (bounce that settled): nothing
    await quiet(0.06)
    assert rig.sink.readings == []
    pipe.edge(asserted)
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)


async def test_state_kinds_report_both_edges_and_state_at_start(rig: Rig) -> None:
    door = rig.lines.add(CHIP, 4, level=True)  # reed closed: door closed
    smoke = rig.lines.add(CHIP, 6, level=False)  # relay open: quiet
    driver = rig.build(
        [
            cord("hall-door", 4, kind="door", contact="nc", room="hall"),
            cord("kitchen-smoke", 6, kind="smoke_relay", contact="no", room="kitchen"),
        ]
    )
    await driver.start()
    await rig.sink.wait_for(lambda s: len(s.readings) == 2)
    assert rig.sink.values("gpio-hall-door") == [("contact", "closed", "at_start")]
    assert rig.sink.values("gpio-kitchen-smoke") == [("smoke", False, "at_start")]

    door.edge(False)
    smoke.edge(True)
    await rig.sink.wait_for(lambda s: len(s.readings) == 4)
    door.edge(True)
    smoke.edge(False)
    await rig.sink.wait_for(lambda s: len(s.readings) == 6)
    assert rig.sink.values("gpio-hall-door")[1:] == [
        ("contact", "open", "asserted"),
        ("contact", "closed", "cleared"),
    ]
    assert rig.sink.values("gpio-kitchen-smoke")[1:] == [
        ("smoke", True, "asserted"),
        ("smoke", False, "cleared"),
    ]


async def test_gas_relay_cut_reports_gas_not_quiet(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 8, level=True)
    driver = rig.build([cord("gas", 8, kind="gas_relay", contact="nc")])
    await driver.start()
    pipe.edge(False)
    await rig.sink.wait_for(lambda s: len(s.of("gas")) == 2)
    assert rig.sink.values() == [("gas", False, "at_start"), ("gas", True, "asserted")]


async def test_many_inputs_are_independent(rig: Rig) -> None:
    pipes = [rig.lines.add(CHIP, n, level=True) for n in range(6)]
    driver = rig.build([cord(f"c{n}", n) for n in range(6)])
    await driver.start()
    for pipe in reversed(pipes):
        pipe.edge(False)
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 6)
    assert sorted(r.device for r in rig.sink.of("press")) == [f"gpio-c{n}" for n in range(6)]
