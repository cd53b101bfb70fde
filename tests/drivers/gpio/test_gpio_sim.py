"""The real gpiod path against the kernel's GPIO simulator (gpio-sim, configured through configfs).

Runs on a Pi or rig whose kernel has gpio-sim (``modprobe gpio-sim``; configfs mounted on /sys/kernel/config)
and as root. Each test builds its own simulated chip, drives its lines through sysfs ``pull`` attributes (the
"outside world") and checks what the driver and the feedback outputs do. Where gpio-sim is absent every test
is skipped with the reason: skipped, never counted as passing.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.feedback import GpiodOutputs, open_outputs
from gateway.settings.feedback import FeedbackSettings
from tests.drivers.gpio.conftest import Rig, cord

pytestmark = pytest.mark.timeout(30)

CONFIGFS = Path("/sys/kernel/config/gpio-sim")
_ids = itertools.count()


def unavailable() -> str | None:
    """Why gpio-sim cannot be used here, or None."""
    if sys.platform != "linux":
        return f"not Linux ({sys.platform})"
    if not CONFIGFS.is_dir():
        return f"{CONFIGFS} does not exist (no CONFIG_GPIO_SIM, module not loaded, or configfs not mounted)"
    if os.geteuid() != 0:
        return "creating simulated chips needs root"
    return None


class SimChip:
    """One simulated chip with one bank of ``num_lines`` lines; named lines and kernel hogs optional."""

    def __init__(self, num_lines: int = 8, names: dict[int, str] | None = None, hogs: dict[int, str] | None = None):
        self.dir = CONFIGFS / f"fbgw-test-{os.getpid()}-{next(_ids)}"
        self.bank = self.dir / "gpio-bank0"
        self.num_lines, self.names, self.hogs = num_lines, names or {}, hogs or {}
        self.path = ""
        self._sysfs = Path()

    def create(self) -> None:
        self.dir.mkdir()
        self.bank.mkdir()
        (self.bank / "num_lines").write_text(str(self.num_lines))
        (self.bank / "label").write_text("fbgw-test")
        for offset in sorted({*self.names, *self.hogs}):
            line = self.bank / f"line{offset}"
            line.mkdir()
            if offset in self.names:
                (line / "name").write_text(self.names[offset])
            if offset in self.hogs:
                (line / "hog").mkdir()
                (line / "hog" / "name").write_text(self.hogs[offset])
                (line / "hog" / "direction").write_text("input")
        (self.dir / "live").write_text("1")
        chip_name = (self.bank / "chip_name").read_text().strip()
        dev_name = (self.dir / "dev_name").read_text().strip()
        self.path = f"/dev/{chip_name}"
        self._sysfs = Path("/sys/devices/platform") / dev_name / chip_name
        deadline = time.monotonic() + 5
        while not os.path.exists(self.path):  # udev may take a moment to make the node
            if time.monotonic() > deadline:
                raise OSError(f"{self.path} did not appear")
            time.sleep(0.01)

    def destroy(self) -> None:
        if (self.dir / "live").exists():
            (self.dir / "live").write_text("0")
        for offset in sorted({*self.names, *self.hogs}):
            line = self.bank / f"line{offset}"
            if (line / "hog").exists():
                (line / "hog").rmdir()
            if line.exists():
                line.rmdir()
        if self.bank.exists():
            self.bank.rmdir()
        if self.dir.exists():
            self.dir.rmdir()

    def pull(self, offset: int, up: bool) -> None:
        """What the wiring outside does to the line: pull it high or low."""
        (self._sysfs / f"sim_gpio{offset}" / "pull").write_text("pull-up" if up else "pull-down")

    def value(self, offset: int) -> int:
        return int((self._sysfs / f"sim_gpio{offset}" / "value").read_text().strip())


@pytest.fixture
def make_chip() -> Iterator[type[SimChip]]:
    """Creates simulated chips and destroys them after the test (tests list it before ``rig``, so the
    driver has released its lines by then)."""
    why = unavailable()
    if why:
        pytest.skip(f"gpio-sim not available: {why}")
    chips: list[SimChip] = []

    class Tracked(SimChip):
        def create(self) -> None:
            chips.append(self)
            try:
                super().create()
            except OSError as exc:  # gpio-sim is there but refuses: a broken rig, never a pass
                pytest.fail(f"gpio-sim is present but a simulated chip could not be created: {exc}")

    yield Tracked
    for chip in reversed(chips):
        chip.destroy()


def sim_chip(make_chip: type[SimChip], **kw: object) -> SimChip:
    chip = make_chip(**kw)  # type: ignore[arg-type]
    chip.create()
    return chip


async def test_call_button_to_ground_with_pull_up(make_chip: type[SimChip], rig: Rig) -> None:
    chip = sim_chip(make_chip)
    driver = rig.build(
        [
            cord(
                "btn",
                3,
                chip=chip.path,
                kind="call_button",
                contact="no",
                active_low=True,
                bias="pull_up",
                debounce_ms=20,
            )
        ]
    )
    await driver.start()
    assert driver.health().state == "up", driver.health().detail
    assert chip.value(3) == 1  # the requested pull-up holds the line high: idle
    assert rig.sink.readings == []

    before = time.monotonic_ns()
    chip.pull(3, up=False)  # the button shorts the line to ground
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)
    press = rig.sink.of("press")[0]
    assert press.device == "gpio-btn" and press.meta["event"] == "press"
    assert before <= press.meta["ts_ns"] <= time.monotonic_ns()  # the kernel's CLOCK_MONOTONIC stamp


async def test_bouncing_contact_through_the_kernel_is_one_press(make_chip: type[SimChip], rig: Rig) -> None:
    chip = sim_chip(make_chip)
    chip.pull(2, up=True)
    driver = rig.build(
        [cord("btn", 2, chip=chip.path, kind="call_button", contact="no", active_low=True, debounce_ms=40)]
    )
    await driver.start()
    for up in [False, True, False, True, False, True, False]:
        chip.pull(2, up=up)
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)
    await asyncio.sleep(0.15)
    assert len(rig.sink.of("press")) == 1
    assert driver.health().counters["edges"] >= 2


async def test_nc_pull_cord_cut_is_tamper(make_chip: type[SimChip], rig: Rig) -> None:
    chip = sim_chip(make_chip)
    chip.pull(4, up=False)  # loop closed: the line is held at ground
    driver = rig.build([cord("cord", 4, chip=chip.path, bias="as_is", cut_after_ms=300)])
    await driver.start()
    assert rig.sink.readings == []

    chip.pull(4, up=True)  # loop open (the cord pulled, or the wire cut)
    await rig.sink.wait_for(lambda s: len(s.of("tamper")) == 1, timeout=3)
    assert [(r.capability, r.value) for r in rig.sink.readings] == [("press", True), ("tamper", True)]
    chip.pull(4, up=False)
    await rig.sink.wait_for(lambda s: len(s.of("tamper")) == 2)
    assert rig.sink.of("tamper")[-1].value is False


async def test_line_by_name(make_chip: type[SimChip], rig: Rig) -> None:
    chip = sim_chip(make_chip, names={5: "BATH_CORD"})
    chip.pull(5, up=False)
    driver = rig.build([cord("cord", "BATH_CORD", chip=chip.path, bias="as_is")])
    await driver.start()
    assert driver.health().state == "up", driver.health().detail
    chip.pull(5, up=True)
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)


async def test_busy_and_missing_lines_are_named(make_chip: type[SimChip], rig: Rig) -> None:
    chip = sim_chip(make_chip, hogs={6: "fbgw-hog"})
    chip.pull(1, up=False)
    driver = rig.build(
        [
            cord("held", 6, chip=chip.path, bias="as_is"),
            cord("ghost", 40, chip=chip.path, bias="as_is"),
            cord("good", 1, chip=chip.path, bias="as_is"),
        ]
    )
    await driver.start()
    detail = driver.health().detail
    assert driver.health().state == "degraded"
    assert f"gpio input 'held' ({chip.path} line 6): line is busy (used by 'fbgw-hog')" in detail
    assert f"gpio input 'ghost' ({chip.path} line 40): no such line (the chip has 8 lines)" in detail
    chip.pull(1, up=True)
    await rig.sink.wait_for(lambda s: len(s.of("press")) == 1)
    assert rig.sink.of("press")[0].device == "gpio-good"


async def test_stop_releases_the_line(make_chip: type[SimChip], rig: Rig) -> None:
    import gpiod

    chip = sim_chip(make_chip)
    driver = rig.build([cord("cord", 0, chip=chip.path, bias="as_is")])
    await driver.start()
    with gpiod.Chip(chip.path) as handle:
        info = handle.get_line_info(0)
        assert info.used and info.consumer == "fbgw"
    await driver.stop()
    with gpiod.Chip(chip.path) as handle:
        assert not handle.get_line_info(0).used


async def test_feedback_outputs_drive_real_lines(make_chip: type[SimChip]) -> None:
    chip = sim_chip(make_chip)
    settings = FeedbackSettings(led_chip=chip.path, led_line=6, buzzer_line=7, buzzer_active_low=True)
    outputs, errors = open_outputs(settings)
    assert errors == [] and isinstance(outputs, GpiodOutputs)
    try:
        assert (chip.value(6), chip.value(7)) == (0, 1)  # both off; the buzzer is active-low
        outputs.set("led", True)
        outputs.set("buzzer", True)
        assert (chip.value(6), chip.value(7)) == (1, 0)
        outputs.set("led", False)
        assert chip.value(6) == 0
    finally:
        outputs.close()
