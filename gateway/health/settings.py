"""The ``[health]`` section: heartbeat interval, watchdog, storage reserve."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class HealthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
