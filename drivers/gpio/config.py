"""The ``[drivers.gpio]`` section: wired inputs (pull cords, call buttons, detector relays, door contacts).

Each input is one GPIO line of one chip and becomes one device ``gpio-<name>`` in the registry. What an
input *means* is looked up in :data:`KINDS` (a table, not a chain of ifs): which device type it is, which
capability it reports, and what value it reports when asserted and when idle.

Electrical model, in two independent settings:

- ``active_low`` makes the kernel report the line *active* when the contacts are closed (current flows).
  With the usual wiring, a switch pulling the line to ground against a pull-up, set ``active_low = true``.
- ``contact`` says which contact state is the *asserted* one: ``"no"`` (normally open: closes when pressed /
  in alarm) or ``"nc"`` (normally closed: opens when pulled / in alarm; a cut wire also opens the loop, so a
  normally-closed loop is supervised and a cut is reported as ``tamper``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal[
    "pull_cord", "call_button", "smoke_relay", "gas_relay", "door", "install_button", "mains_detect", "care_button"
]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What one kind of wired input is, in the shared vocabulary."""

    device_type: str
    capability: str
    asserted: Any  # value reported when the input is asserted (pressed, smoke, door open)
    idle: Any  # value reported when it returns to idle; None: nothing is reported (a press has no "false")
    momentary: bool  # True: a push/pull (press + long press); False: a state reported on every change
    cut_after_ms: int  # default NC supervision: asserted this long is a cut loop (0: never)


#: kind -> meaning. Momentary kinds report ``press`` and then ``release`` (both true: a release is its own
#: capability, so it can never be read as the call being cleared); state kinds report both edges.
KINDS: Mapping[str, KindSpec] = {
    "pull_cord": KindSpec("pull_cord", "press", True, None, momentary=True, cut_after_ms=10_000),
    "call_button": KindSpec("call_button", "press", True, None, momentary=True, cut_after_ms=10_000),
    "smoke_relay": KindSpec("smoke", "smoke", True, False, momentary=False, cut_after_ms=0),
    "gas_relay": KindSpec("gas", "gas", True, False, momentary=False, cut_after_ms=0),
    "door": KindSpec("door", "contact", "open", "closed", momentary=False, cut_after_ms=0),
    # A UPS HAT's or power-detect circuit's "mains lost" line: asserted while the gateway runs on battery.
    # The elder's care button ("I'm fine", medicine taken): a state event, never a call.
    "care_button": KindSpec("care_button", "checkin", True, None, momentary=True, cut_after_ms=0),
    "mains_detect": KindSpec("power_monitor", "mains_lost", True, False, momentary=False, cut_after_ms=0),
    # The installer's button on the box: held for ``long_press_ms``, it opens the technician's install window.
    "install_button": KindSpec("install_button", "install", True, None, momentary=True, cut_after_ms=0),
}

#: The ``bias`` setting, as the names libgpiod uses.
Bias = Literal["as_is", "disabled", "pull_up", "pull_down"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSettings(_Model):
    """One wired input. See the module docstring for ``active_low`` and ``contact``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")
    kind: Kind
    room: str = ""
    label: str = ""  # human name shown on pages; defaults to ``name``
    chip: str = "/dev/gpiochip0"
    line: int | str = Field(description="line offset on the chip, or the line's name")
    active_low: bool = False
    bias: Bias = "as_is"
    contact: Literal["no", "nc"] = "no"
    debounce_ms: int = Field(default=30, ge=0, le=2_000)
    long_press_ms: int = Field(default=3_000, ge=0, le=60_000)  # momentary kinds; 0 = no long press
    cut_after_ms: int | None = Field(default=None, ge=0, le=3_600_000)  # NC only; None = the kind's default
    #: ``auto``: the device is added at start. ``manual``: the line is left free until a technician adds it
    #: on the page (a box whose harness has more terminals than this home uses).
    pairing: Literal["auto", "manual"] = "auto"

    @model_validator(mode="after")
    def _valid_line(self) -> InputSettings:
        if isinstance(self.line, int) and self.line < 0:
            raise ValueError(f"input {self.name!r}: line must be an offset >= 0 or a line name")
        if isinstance(self.line, str) and not self.line.strip():
            raise ValueError(f"input {self.name!r}: line name is empty")
        if self.kind == "install_button" and self.pairing != "auto":
            raise ValueError(f"input {self.name!r}: the installer's button is part of the box: pairing must be auto")
        return self

    @property
    def spec(self) -> KindSpec:
        return KINDS[self.kind]

    @property
    def device_id(self) -> str:
        return f"gpio-{self.name}"

    @property
    def address(self) -> str:
        """``chip:line``, the registry address of the device."""
        return f"{self.chip}:{self.line}"

    @property
    def where(self) -> str:
        """How error messages name the line: input, chip and line."""
        return f"gpio input {self.name!r} ({self.chip} line {self.line})"

    @property
    def supervision_ms(self) -> int:
        """How long an NC loop may stay open before it is reported as cut (0: never)."""
        if self.contact != "nc":
            return 0
        return self.spec.cut_after_ms if self.cut_after_ms is None else self.cut_after_ms

    @property
    def capabilities(self) -> list[str]:
        caps = [self.spec.capability]
        if self.spec.capability == "press":
            caps.append("release")  # let go, with how long it was held (the kernel's timestamps)
        if self.spec.momentary:
            caps.append("trouble")  # a normally-open button found closed at start is stuck
        if self.contact == "nc":
            caps.append("tamper")
        return caps


class GpioSection(_Model):
    """``[drivers.gpio]``: the driver switch and its inputs."""

    enabled: bool = True
    consumer: str = Field(default="fbgw", min_length=1, max_length=31)  # shown by gpioinfo as the line's user
    retry_s: float = Field(default=30.0, ge=0, le=3_600)  # retry lines that failed to open; 0 = never
    inputs: list[InputSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> GpioSection:
        names: set[str] = set()
        lines: dict[tuple[str, str], str] = {}
        for inp in self.inputs:
            if inp.name in names:
                raise ValueError(f"two inputs are named {inp.name!r}")
            names.add(inp.name)
            key = (inp.chip, str(inp.line))
            if key in lines:
                raise ValueError(f"inputs {lines[key]!r} and {inp.name!r} share {inp.chip} line {inp.line}")
            lines[key] = inp.name
        return self
