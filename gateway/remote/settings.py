"""The ``[remote]`` section: how platform pushes are accepted (signing key, size limits...)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RemoteSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
