"""The ``[drivers.sim]`` section: the devices of the simulated home and the scenario it plays."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: What each simulated device type can report.
TYPE_CAPABILITIES: dict[str, list[str]] = {
    "call_button": ["press", "battery"],
    "pull_cord": ["press", "tamper"],
    "door": ["contact", "battery", "tamper"],
    "motion": ["motion", "battery"],
    "smoke": ["smoke", "battery", "tamper"],
    "gas": ["gas", "tamper"],
    "leak": ["leak", "battery"],
    "wet_pad": ["wet", "battery"],
    "mattress": ["in_bed", "heart_rate", "breath_rate"],
    "heart_rate": ["heart_rate", "battery"],
    "care_button": ["checkin"],
    "badge": ["beacon"],
}


class SimDevice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    type: Literal[
        "call_button",
        "pull_cord",
        "door",
        "motion",
        "smoke",
        "gas",
        "leak",
        "wet_pad",
        "mattress",
        "heart_rate",
        "care_button",
        "badge",
    ]
    room: str = ""
    name: str = ""


class SimStep(BaseModel):
    """At ``at_s`` seconds into the scenario, ``device`` reports ``capability = value``."""

    model_config = ConfigDict(extra="forbid")
    at_s: float = Field(ge=0)
    device: str
    capability: str
    value: Any
    note: str = ""


class SimSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    devices: list[SimDevice] = Field(default_factory=list)
    play: Literal["none", "demo", "steps"] = "none"
    steps: list[SimStep] = Field(default_factory=list)
    loop: bool = False
    vitals_every_s: float = Field(default=0, ge=0)  # 0 = no background vital signs
