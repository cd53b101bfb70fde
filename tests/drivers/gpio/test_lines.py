"""The real gpiod line opener: error messages and the request it makes.

Missing chips and non-chip paths go through the real ``gpiod`` package. Requests on an existing chip need a
chip, which this machine has not: those paths use a stand-in ``gpiod.Chip`` (a unit-test double) here, and
the real kernel in test_gpio_sim.py.
"""

from __future__ import annotations

import errno
from datetime import timedelta
from typing import Any, ClassVar

import gpiod
import pytest

from drivers.gpio.config import InputSettings
from drivers.gpio.lines import LineError, open_gpiod_line

pytestmark = pytest.mark.timeout(10)


def spec(**kw: Any) -> InputSettings:
    base: dict[str, Any] = {"name": "cord", "kind": "pull_cord", "chip": "/dev/gpiochip0", "line": 17}
    return InputSettings.model_validate({**base, **kw})


def test_missing_chip_message_names_input_chip_and_line() -> None:
    with pytest.raises(LineError) as info:
        open_gpiod_line(spec(chip="/dev/gpiochip42", line=5), "fbgw")
    assert str(info.value) == "gpio input 'cord' (/dev/gpiochip42 line 5): no such GPIO chip /dev/gpiochip42"
    assert info.value.errno == errno.ENOENT


def test_non_chip_path_is_refused() -> None:
    with pytest.raises(LineError, match=r"/dev/null is not a GPIO chip"):
        open_gpiod_line(spec(chip="/dev/null"), "fbgw")


class _Info:
    def __init__(self, used: bool, consumer: str) -> None:
        self.used, self.consumer = used, consumer


class _ChipInfo:
    num_lines = 8


class StandInChip:
    """Just enough of gpiod.Chip to see which request the opener makes."""

    requested: ClassVar[list[tuple[dict[Any, Any], str | None]]] = []
    busy: ClassVar[dict[int, str]] = {}
    fail_request: OSError | None = None

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> StandInChip:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def get_info(self) -> _ChipInfo:
        return _ChipInfo()

    def line_offset_from_id(self, line: int | str) -> int:
        if isinstance(line, str):
            if line == "CORD":
                return 3
            raise OSError(errno.ENOENT, "No such file or directory")
        if line >= 8:
            raise ValueError("line offset of out range")
        return line

    def get_line_info(self, offset: int) -> _Info:
        return _Info(offset in self.busy, self.busy.get(offset, ""))

    def request_lines(self, config: dict[Any, Any], consumer: str | None = None) -> object:
        if StandInChip.fail_request is not None:
            raise StandInChip.fail_request
        StandInChip.requested.append((config, consumer))
        return object()


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> type[StandInChip]:
    monkeypatch.setattr(gpiod, "Chip", StandInChip)
    monkeypatch.setattr(gpiod, "is_gpiochip_device", lambda path: True)
    monkeypatch.setattr("os.path.exists", lambda path: True)
    StandInChip.requested = []
    StandInChip.busy = {}
    StandInChip.fail_request = None
    return StandInChip


def test_request_settings_follow_config(stand_in: type[StandInChip]) -> None:
    open_gpiod_line(spec(line=2, active_low=True, bias="pull_up"), "fbgw")
    ((config, consumer),) = stand_in.requested
    assert consumer == "fbgw"
    ((offset, settings),) = config.items()
    assert offset == 2
    assert settings.direction == gpiod.line.Direction.INPUT
    assert settings.edge_detection == gpiod.line.Edge.BOTH
    assert settings.bias == gpiod.line.Bias.PULL_UP
    assert settings.active_low is True
    assert settings.event_clock == gpiod.line.Clock.MONOTONIC
    assert settings.debounce_period == timedelta(0)


def test_line_by_name(stand_in: type[StandInChip]) -> None:
    open_gpiod_line(spec(line="CORD", active_low=False, bias="disabled"), "fbgw")
    ((config, _),) = stand_in.requested
    ((offset, settings),) = config.items()
    assert offset == 3 and settings.active_low is False and settings.bias == gpiod.line.Bias.DISABLED


def test_line_out_of_range(stand_in: type[StandInChip]) -> None:
    with pytest.raises(LineError) as info:
        open_gpiod_line(spec(line=40), "fbgw")
    assert str(info.value) == "gpio input 'cord' (/dev/gpiochip0 line 40): no such line (the chip has 8 lines)"


def test_unknown_line_name(stand_in: type[StandInChip]) -> None:
    with pytest.raises(LineError, match=r"\(/dev/gpiochip0 line ROPE\): no line named 'ROPE'"):
        open_gpiod_line(spec(line="ROPE"), "fbgw")


def test_busy_line_names_its_user(stand_in: type[StandInChip]) -> None:
    stand_in.busy = {17 % 8: "gpio-keys"}
    with pytest.raises(LineError) as info:
        open_gpiod_line(spec(line=1), "fbgw")
    assert str(info.value) == "gpio input 'cord' (/dev/gpiochip0 line 1): line is busy (used by 'gpio-keys')"
    assert info.value.errno == errno.EBUSY


def test_request_race_busy(stand_in: type[StandInChip]) -> None:
    stand_in.fail_request = OSError(errno.EBUSY, "Device or resource busy")
    with pytest.raises(LineError, match=r"line 6\): line is busy \(requested by another program\)"):
        open_gpiod_line(spec(line=6), "fbgw")
