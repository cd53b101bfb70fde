"""MQTT topic names: one versioned prefix per gateway (documented in docs/asyncapi.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "fbgw/v1"


@dataclass(frozen=True, slots=True)
class Topics:
    gateway: str

    @property
    def base(self) -> str:
        return f"{PREFIX}/{self.gateway}"

    @property
    def alarms(self) -> str:
        """Alarm-priority events, JSON array, QoS 1, sent the moment they are committed."""
        return f"{self.base}/alarms"

    @property
    def events(self) -> str:
        """Every other event, JSON array, QoS 1, batched while draining a backlog."""
        return f"{self.base}/events"

    @property
    def status(self) -> str:
        """Retained online/offline state; offline is the last will."""
        return f"{self.base}/status"

    @property
    def alarm_ack(self) -> str:
        return f"{self.base}/alarms/ack"

    @property
    def config_desired(self) -> str:
        return f"{self.base}/config/desired"

    @property
    def config_reported(self) -> str:
        return f"{self.base}/config/reported"

    @property
    def cmd(self) -> str:
        return f"{self.base}/cmd"

    @property
    def devices(self) -> str:
        """Retained: every paired device with its state, republished on every change."""
        return f"{self.base}/devices"

    def availability(self, device_id: str) -> str:
        """Retained per device: ``online`` / ``offline``."""
        return f"{self.base}/devices/{device_id}/availability"

    @property
    def cmd_result(self) -> str:
        return f"{self.base}/cmd/result"
