"""The ``[rules]`` section: thresholds and schedules of every rule (local, and pushed by the platform)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RulesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    battery_low_pct: int = Field(default=20, ge=1, le=99)
