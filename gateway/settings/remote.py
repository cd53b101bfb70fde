"""The ``[remote]`` section: how platform pushes are accepted (signing key, size limits, clock skew...).

Everything here is local-only: the platform can never change it, because these settings decide what the
platform is allowed to do. See docs/remote.md.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class RemoteSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Accept desired config documents on ``config/desired`` (and report on ``config/reported``).
    config_enabled: bool = True
    #: Accept commands on ``cmd`` (results on ``cmd/result``).
    commands_enabled: bool = True
    #: The platform's Ed25519 public key, base64 of the 32 raw bytes. When set (here or via
    #: ``platform_key_file``), every desired document and command must carry a valid signature.
    platform_key: str | None = None
    #: A file holding the platform key: PEM (``-----BEGIN PUBLIC KEY-----``) or base64 of the 32 raw bytes.
    platform_key_file: Path | None = None
    #: Desired documents and commands larger than this are rejected unread (``too_large``).
    max_document_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    #: Tolerated difference between the platform's clock and ours when judging a command's expiry.
    command_clock_skew_s: float = Field(default=60.0, ge=0, le=3600)
    #: A command may not expire later than this after it arrives (bounds how long ids must be remembered).
    command_max_ttl_s: int = Field(default=24 * 3600, ge=10, le=30 * 24 * 3600)
    #: How many recent command ids are remembered on disk to refuse replays and duplicates.
    remembered_commands: int = Field(default=1000, ge=10, le=100_000)
    #: Seconds pushed connection settings (broker, credentials, certificates) get to connect before the
    #: gateway returns to the last working ones.
    connection_trial_s: float = Field(default=30.0, ge=1, le=600)
    #: Longest pairing window a ``permit_join`` command may open.
    permit_join_max_s: int = Field(default=600, ge=10, le=3600)
    #: Most log text an ``upload_logs`` command returns (the newest lines are kept).
    log_upload_max_bytes: int = Field(default=48 * 1024, ge=1024, le=512 * 1024)
    #: Log text kept in memory for ``upload_logs`` (nothing is written to the SD card for it).
    log_buffer_bytes: int = Field(default=256 * 1024, ge=4096, le=4 * 1024 * 1024)
    #: Where the A/B slots live (``slots/a``, ``slots/b``, ``current``); ``update`` commands install there.
    update_root: Path = Path("/opt/fbgw")
    #: Largest update package an ``update`` command may name (the download stops there).
    update_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1024 * 1024, le=2 * 1024 * 1024 * 1024)
    #: PEM file of the CA(s) an ``https://`` update URL's server certificate must chain to; unset: the system's
    #: trusted CAs (a county's own package server with a private CA names its CA here).
    update_ca_file: Path | None = None
    #: Attempts of one ``update`` download; each resumes (``Range``) where the one before was cut off.
    update_download_attempts: int = Field(default=4, ge=1, le=20)
    #: After an update, the new version must have its uplink online, its drivers started and its outbox
    #: writable within this many seconds, or the gateway returns to the previous slot.
    update_health_s: float = Field(default=300.0, ge=5, le=3600)
    #: Starts of a new version on trial before it counts as a crash loop and the previous slot comes back.
    update_max_boots: int = Field(default=3, ge=1, le=20)

    @field_validator("platform_key")
    @classmethod
    def _raw_key(cls, value: str | None) -> str | None:
        if value is not None:
            decode_raw_key(value)
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> RemoteSettings:
        if self.platform_key is not None and self.platform_key_file is not None:
            raise ValueError("set platform_key or platform_key_file, not both")
        return self


def decode_raw_key(text: str) -> bytes:
    """The 32 raw bytes of an Ed25519 public key given as base64 (standard or URL-safe)."""
    cleaned = "".join(text.split())
    try:
        raw = base64.b64decode(cleaned.replace("-", "+").replace("_", "/") + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("platform_key must be the base64 of a 32-byte Ed25519 public key") from exc
    if len(raw) != 32:
        raise ValueError(f"platform_key must decode to 32 bytes (Ed25519), not {len(raw)}")
    return raw
