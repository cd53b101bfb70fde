"""Local configuration: one typed model, read from TOML, validated whole at start.

Unknown keys are errors (a typo must not silently fall back to a default). Driver sections under
``[drivers.<name>]`` are kept raw here and validated by each driver, which owns its own schema.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.feedback_settings import FeedbackSettings
from gateway.health.settings import HealthSettings
from gateway.remote.settings import RemoteSettings
from gateway.rules.settings import RulesSettings
from gateway.web.settings import WebSettings

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GatewaySection(_Section):
    id: str
    state_dir: Path = Path("/var/lib/fbgw")
    timezone: str = "Asia/Shanghai"

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError("gateway id must be 1-64 letters, digits, '-' or '_' (it is part of MQTT topics)")
        return value


class UplinkSection(_Section):
    broker: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    client_id: str | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    puback_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_inflight_messages: int = Field(default=32, ge=1, le=1000)
    batch_max_events: int = Field(default=200, ge=1, le=10_000)
    batch_max_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    backoff_initial_s: float = Field(default=0.5, gt=0, le=60)
    backoff_max_s: float = Field(default=30.0, gt=0, le=3600)
    alarm_retry_s: float = Field(default=0.5, gt=0, le=1.0)

    @field_validator("broker")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("broker must look like mqtt://host:1883 or mqtts://host:8883")
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.broker).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.broker)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def tls(self) -> bool:
        return urlsplit(self.broker).scheme == "mqtts"


class OutboxTTL(_Section):
    """Seconds an undelivered event may wait before it is dropped; 0 = never."""

    alarm: int = Field(default=0, ge=0)
    alert: int = Field(default=30 * 24 * 3600, ge=0)
    state: int = Field(default=7 * 24 * 3600, ge=0)
    telemetry: int = Field(default=2 * 24 * 3600, ge=0)


class OutboxSection(_Section):
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024)
    max_rows: int = Field(default=500_000, ge=100)
    max_batch: int = Field(default=512, ge=1, le=10_000)
    ttl: OutboxTTL = OutboxTTL()
    ttl_check_s: float = Field(default=60.0, gt=0)
    #: Disk space set aside (a file next to the database) and given back when the disk fills up, so alarms
    #: can still be committed while everything else is refused.
    reserve_bytes: int = Field(default=2 * 1024 * 1024, ge=0, le=1024 * 1024 * 1024)


class HttpSection(_Section):
    listen: str = "127.0.0.1:8080"

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("listen must be HOST:PORT, e.g. 127.0.0.1:8080")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class ClockSection(_Section):
    assume_synced: bool = False


class Config(_Section):
    gateway: GatewaySection
    uplink: UplinkSection = UplinkSection()
    outbox: OutboxSection = OutboxSection()
    http: HttpSection = HttpSection()
    clock: ClockSection = ClockSection()
    rules: RulesSettings = RulesSettings()
    web: WebSettings = WebSettings()
    remote: RemoteSettings = RemoteSettings()
    health: HealthSettings = HealthSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    drivers: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def with_overrides(
        self, *, state_dir: Path | None = None, broker: str | None = None, http: str | None = None
    ) -> Config:
        """A copy with command-line overrides applied (and validated)."""
        raw = self.model_dump()
        if state_dir is not None:
            raw["gateway"]["state_dir"] = state_dir
        if broker is not None:
            raw["uplink"]["broker"] = broker
        if http is not None:
            raw["http"]["listen"] = http
        return Config.model_validate(raw)

    def driver_enabled(self, name: str) -> bool:
        return bool(self.drivers.get(name, {}).get("enabled", False))


class ConfigError(ValueError):
    """The configuration file cannot be used; the message says where and why."""


def load_config(path: Path) -> Config:
    """Read and validate a TOML config file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(raw, source=str(path))


def parse_config(raw: dict[str, Any], source: str = "<config>") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{source}: {problems}") from exc
