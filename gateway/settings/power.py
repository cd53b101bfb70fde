"""The ``[power]`` section: battery through UPower, orderly shutdown, and the downtime record.

Example::

    [power]
    upower = "auto"           # read the battery through UPower when it runs
    battery_low_pct = 20      # power.battery_low below this, on battery
    shutdown_pct = 5          # power the box off cleanly below this, on battery

A mains-loss line (a UPS HAT or a power-detect circuit) is a wired input of kind ``mains_detect`` in
``[drivers.gpio]``: it gives ``power.mains_lost`` / ``power.mains_restored`` through the rules.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PowerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: Read battery and mains from UPower on the system bus: true, false, or "auto" (when UPower answers).
    upower: bool | Literal["auto"] = "auto"
    poll_s: float = Field(default=10.0, gt=0, le=600)  # how often UPower is read
    battery_low_pct: float = Field(default=20.0, ge=0, le=100)  # power.battery_low below this, on battery
    #: On battery below this percentage, or with less than ``shutdown_before_empty_s`` left: power off cleanly.
    shutdown_pct: float = Field(default=5.0, ge=0, le=100)
    shutdown_before_empty_s: int = Field(default=180, ge=0, le=3600)
    #: Ask systemd-logind to power the box off (systemd then stops the gateway, closing the outbox cleanly).
    poweroff: bool = True
    #: How often the "last alive" time is written (a boot after a power cut reports the downtime from it).
    alive_interval_s: float = Field(default=60.0, gt=0, le=3600)
