"""The ``[drivers.zigbee]`` section and how it becomes a zigpy radio configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.base import DriverConfigError

#: Offline timeouts in the range Zigbee2MQTT (10 min / 25 h) and ZHA (2 h / 6 h) use.
DEFAULT_OFFLINE_MAINS_S = 2 * 3600
DEFAULT_OFFLINE_BATTERY_S = 25 * 3600


class ZigbeeSection(BaseModel):
    """Validated ``[drivers.zigbee]``. Every duration is in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    radio: Literal["znp", "ezsp", "deconz"] = "znp"
    port: str | None = None  # None: find the stick by USB id
    baudrate: int = Field(default=115200, gt=0)
    flow_control: Literal["none", "hardware", "software"] = "none"
    channel: int | None = Field(default=None, ge=11, le=26)  # None: energy scan at formation
    offline_after_mains_s: float = Field(default=DEFAULT_OFFLINE_MAINS_S, gt=0)
    offline_after_battery_s: float = Field(default=DEFAULT_OFFLINE_BATTERY_S, gt=0)
    availability_check_s: float = Field(default=30.0, gt=0)
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=60.0, gt=0)
    startup_timeout_s: float = Field(default=120.0, gt=0)
    # zigpy retries an unanswered descriptor read for minutes; the technician at the bed is told sooner.
    interview_timeout_s: float = Field(default=90.0, gt=0)
    enroll_step_timeout_s: float = Field(default=30.0, gt=0)  # each enrolment step (CIE write, zone type...)
    identify_timeout_s: float = Field(default=30.0, gt=0)  # sleepy devices take their queued frame late
    backup_period_min: int = Field(default=24 * 60, ge=1)

    @model_validator(mode="after")
    def _backoff_order(self) -> ZigbeeSection:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    @classmethod
    def parse(cls, section: dict[str, Any]) -> ZigbeeSection:
        try:
            return cls.model_validate(section)
        except ValidationError as exc:
            raise DriverConfigError(f"drivers.zigbee: {exc}") from exc


def zigpy_config(settings: ZigbeeSection, state_dir: Path, port: str) -> dict[str, Any]:
    """The zigpy ControllerApplication config for ``port``, with its database in ``state_dir``.

    The database holds the paired devices and zigpy's network backups, so a replaced stick is restored from
    it on the next start without re-pairing.
    """
    network: dict[str, Any] = {}
    if settings.channel is not None:
        network["channel"] = settings.channel
    return {
        "device": {
            "path": port,
            "baudrate": settings.baudrate,
            "flow_control": None if settings.flow_control == "none" else settings.flow_control,
        },
        "database_path": str(state_dir / "zigbee.db"),
        "network": network,
        "backup_enabled": True,
        "backup_period": settings.backup_period_min,
        "topology_scan_enabled": False,
        "ota": {"enabled": False},
    }
