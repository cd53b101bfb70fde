"""The ``[feedback]`` section: LED / buzzer lines and the spoken prompts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FeedbackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
