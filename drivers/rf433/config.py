"""The ``[drivers.rf433]`` section, and what each kind of 433 MHz device means in the shared vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One kind of 433 MHz device.

    ``match``: ``code`` = the whole code identifies the device (a pendant sends one code); ``address`` = the EV1527
    20-bit address identifies it and the 4 data bits carry its state (a door sensor: open / closed).
    """

    device_type: str
    capabilities: tuple[str, ...]
    match: Literal["code", "address"]


#: The ``type`` a technician picks when adopting a code.
KINDS: Mapping[str, KindSpec] = {
    "call_button": KindSpec("call_button", ("press",), "code"),
    "pull_cord": KindSpec("pull_cord", ("press",), "code"),
    "door": KindSpec("door", ("contact",), "address"),
    "smoke": KindSpec("smoke", ("smoke",), "code"),
}


class Rf433Section(BaseModel):
    """``[drivers.rf433]``: where the receiver module is and how to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: The module's serial port; prefer a stable ``/dev/serial/by-id/...`` path (it survives unplug/replug).
    port: str = Field(min_length=1)
    baudrate: int = Field(default=9600, ge=1200, le=921_600)
    #: Frames of the same code closer than this belong to one press (a pendant repeats its code for ~1 s).
    burst_gap_ms: int = Field(default=600, ge=50, le=10_000)
    #: A smoke sensor repeats its code while in alarm; this long without it and the alarm is reported cleared.
    smoke_clear_s: float = Field(default=120.0, ge=0.2, le=3_600)
    #: Reopen the port after it was lost, with backoff between these bounds.
    retry_min_s: float = Field(default=1.0, gt=0, le=60)
    retry_max_s: float = Field(default=30.0, gt=0, le=600)
    #: Codes heard in the pairing window are offered as candidates this long after they were last heard.
    candidate_ttl_s: float = Field(default=120.0, ge=1, le=3_600)
    #: EV1527 door sensors: which 4 data bits mean open and closed (vendors differ; per device in adopt options).
    door_open_data: int = Field(default=0xA, ge=0, le=0xF)
    door_closed_data: int | None = Field(default=0xE, ge=0, le=0xF)
