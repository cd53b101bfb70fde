"""The ``[health]`` section: heartbeat interval, watchdog, storage monitoring.

Defaults suit a Raspberry Pi on an SD card: a heartbeat every 15 minutes is enough for the platform to see a
silent gateway within the hour, and cheap on a metered 4G link.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class HealthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Seconds between two ``gateway.heartbeat`` events; 0 turns the heartbeat off.
    heartbeat_interval_s: float = Field(default=15 * 60, ge=0, le=24 * 3600)
    #: Outbox priority of the heartbeat: "state" keeps it longer than telemetry when the outbox is full.
    heartbeat_priority: Literal["telemetry", "state"] = "state"
    #: Include per-device last seen / battery / signal in the heartbeat.
    heartbeat_devices: bool = True
    #: Talk to systemd (READY / STATUS / WATCHDOG / STOPPING) when started by it ($NOTIFY_SOCKET set).
    watchdog: bool = True
    #: Seconds a probe of the outbox writer thread may take before the gateway counts as wedged.
    watchdog_probe_timeout_s: float = Field(default=20.0, gt=0, le=600)
    #: Seconds between two disk checks of the state directory.
    storage_check_s: float = Field(default=30.0, gt=0, le=3600)
    #: Free space under which storage counts as degraded (``gateway.storage_degraded``).
    storage_min_free_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    #: Free space needed before storage counts as healthy again (hysteresis; >= ``storage_min_free_bytes``).
    storage_recover_free_bytes: int = Field(default=48 * 1024 * 1024, ge=0)

    @model_validator(mode="after")
    def _hysteresis(self) -> HealthSettings:
        if self.storage_recover_free_bytes < self.storage_min_free_bytes:
            raise ValueError("storage_recover_free_bytes must be >= storage_min_free_bytes")
        return self
