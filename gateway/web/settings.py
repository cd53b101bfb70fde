"""The ``[web]`` section: the technician's page (sign-in, install window, county acceptance profile)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
