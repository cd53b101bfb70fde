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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.rules.settings import RulesSettings
from gateway.settings.care import CareSettings
from gateway.settings.feedback import FeedbackSettings
from gateway.settings.health import HealthSettings
from gateway.settings.hotspot import HotspotSettings
from gateway.settings.modem import ModemSettings
from gateway.settings.power import PowerSettings
from gateway.settings.remote import RemoteSettings
from gateway.settings.web import WebSettings

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GatewaySection(_Section):
    """Who this gateway is and where it keeps its state."""

    #: Gateway id, unique in the county: part of every MQTT topic and event. Never changed remotely.
    id: str
    #: Outbox, device registry, radio backups, applied remote config (systemd's StateDirectory).
    state_dir: Path = Path("/var/lib/fbgw")
    #: Local time zone for day/night windows.
    timezone: str = "Asia/Shanghai"

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError("gateway id must be 1-64 letters, digits, '-' or '_' (it is part of MQTT topics)")
        return value


#: Hosts a webhook may be reached at over plain http (a receiver on the gateway itself, tests).
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ThingsBoardSection(_Section):
    """The ``thingsboard`` profile: the ThingsBoard IoT Gateway MQTT API (docs/platforms.md)."""

    #: ThingsBoard device name of each home device; fields {gateway}, {room}, {name}, {id}, {type}. Must be
    #: unique in the ThingsBoard tenant (a clash gets " #<id>" appended).
    device_name: str = "{gateway} {room} {name}"
    #: ThingsBoard device profile (``type`` of v1/gateway/connect); same fields.
    device_type: str = "{type}"
    #: Run RPC requests on v1/gateway/rpc as fbgw commands. They are NOT signed: anyone who may publish on the
    #: gateway's ThingsBoard connection can then acknowledge alarms, open the install window, restart...
    rpc_commands: bool = False

    @field_validator("device_name", "device_type")
    @classmethod
    def _valid_template(cls, value: str) -> str:
        try:
            value.format(gateway="g", room="r", name="n", id="i", type="t")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"unknown field or bad template: {exc}") from None
        return value


class WebhookSection(_Section):
    """The ``webhook`` profile: HTTPS POST of JSON arrays of events, HMAC-SHA256 signed (docs/platforms.md)."""

    #: https://host/path (http:// only to a loopback address).
    url: str | None = None
    #: Shared secret of the HMAC-SHA256 signature.
    secret: str | None = Field(default=None, repr=False)
    #: One POST (connect, send, answer) may take this long.
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    #: CA bundle that signs the receiver's certificate; unset: the system's CAs.
    ca_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and parts.hostname in _LOOPBACK:
            return value
        raise ValueError("url must be https://host/path (http:// only to a loopback address)")


class UplinkSection(_Section):
    """The connection to the county platform's MQTT broker."""

    #: Wire format: "fbgw" (the native topics), "thingsboard" (ThingsBoard IoT Gateway MQTT API) or
    #: "webhook" (HTTPS POST). The same outbox, ordering and delete-on-acknowledge for each.
    profile: Literal["fbgw", "thingsboard", "webhook"] = "fbgw"
    thingsboard: ThingsBoardSection = ThingsBoardSection()
    webhook: WebhookSection = WebhookSection()
    #: mqtt://host:1883, or mqtts://host:8883 for TLS.
    broker: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    #: CA bundle that signs the broker's certificate (mqtts); unset: the system's CAs.
    ca_file: Path | None = None
    #: Client certificate and key for mutual TLS.
    cert_file: Path | None = None
    key_file: Path | None = None
    #: MQTT protocol version.
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    #: Default: fbgw-<gateway id>. The session is persistent, so keep it stable.
    client_id: str | None = None
    #: An idle connection that went half-open (a black hole on the way) is given up within two of these.
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    #: MQTT 5: how long the broker keeps the session while the gateway is away.
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    #: A publish not acknowledged this long means the connection is dead: reconnect and re-send. Also the TCP
    #: user timeout: the kernel aborts a connection whose sent data stays unacknowledged this long.
    puback_timeout_s: float = Field(default=10.0, gt=0, le=300)
    #: QoS 1 messages of ordinary events in flight at once (alarms have slots of their own).
    max_inflight_messages: int = Field(default=32, ge=1, le=1000)
    #: Most events in one message while draining a backlog, and most bytes.
    batch_max_events: int = Field(default=200, ge=1, le=10_000)
    batch_max_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: Reconnect backoff: doubles from initial to max, with full jitter.
    backoff_initial_s: float = Field(default=0.5, gt=0, le=60)
    backoff_max_s: float = Field(default=30.0, gt=0, le=3600)
    #: While an alarm waits, retry this often whatever the backoff (first alarm out within ~1 s).
    alarm_retry_s: float = Field(default=0.5, gt=0, le=1.0)
    #: An alarm unacknowledged this long while nothing at all was acknowledged means the link stalled (a black
    #: hole the keepalive has not noticed yet): the connection is aborted, unsent backlog discarded, and the
    #: alarm is the first thing sent on the next one.
    alarm_stall_s: float = Field(default=3.0, gt=0, le=60)
    #: Inbound messages (commands, desired config, alarm acks) waiting per topic, at most; more are dropped and
    #: counted (``inbound_dropped`` in the heartbeat). One message always fits an empty lane.
    inbound_queue_messages: int = Field(default=64, ge=1, le=10_000)
    #: ... and bytes waiting per topic, at most.
    inbound_queue_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    #: Inbound messages handled per topic per second, at most (bursts of ``inbound_burst``); the rest dropped.
    inbound_rate_per_s: float = Field(default=20.0, gt=0, le=10_000)
    inbound_burst: int = Field(default=100, ge=1, le=100_000)
    #: Larger inbound payloads are dropped unread (MQTT 5: the broker is told not to send them at all).
    inbound_max_bytes: int = Field(default=1024 * 1024, ge=1024, le=16 * 1024 * 1024)

    @field_validator("broker")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("broker must look like mqtt://host:1883 or mqtts://host:8883")
        return value

    @model_validator(mode="after")
    def _webhook_complete(self) -> UplinkSection:
        if self.profile == "webhook" and not (self.webhook.url and self.webhook.secret):
            raise ValueError("profile webhook needs [uplink.webhook] url and secret")
        return self

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
    """The durable queue of events still to reach the platform (SQLite, WAL, synchronous=FULL)."""

    #: Cap on disk and in rows; over it the lowest-priority oldest events are dropped, never an alarm.
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024)
    max_rows: int = Field(default=500_000, ge=100)
    #: Most events committed in one transaction (one fsync); alarms are committed on their own.
    max_batch: int = Field(default=512, ge=1, le=10_000)
    ttl: OutboxTTL = OutboxTTL()
    #: How often expired events are purged.
    ttl_check_s: float = Field(default=60.0, gt=0)
    #: Disk space set aside (a file next to the database) and given back when the disk fills up, so alarms
    #: can still be committed while everything else is refused.
    reserve_bytes: int = Field(default=2 * 1024 * 1024, ge=0, le=1024 * 1024 * 1024)
    #: Storage that cannot be written (read-only card, I/O errors): most alarms and alerts held in memory
    #: meanwhile (NOT durable: a power cut loses them; about 1 KB each). When full, an alarm replaces an alert.
    held_max_events: int = Field(default=1000, ge=10, le=100_000)
    #: Seconds between two attempts to write to such storage again (the held events are written back then).
    retry_s: float = Field(default=2.0, ge=0.1, le=300)


class HttpSection(_Section):
    """The local web server: the technician's page and the JSON API."""

    #: HOST:PORT of plain HTTP. On a box: loopback (local tools), with the technician's page on ``https_listen``;
    #: the simulated-readings hook works only on a loopback address.
    listen: str = "127.0.0.1:8080"
    #: HOST:PORT of the technician's page over HTTPS, with the box's own self-signed certificate (made at
    #: provisioning or first start in ``<state_dir>/web/tls``; its SHA-256 fingerprint is on the label).
    #: Empty: no HTTPS. On a box: "0.0.0.0:8443", with ``listen`` on loopback for local tools.
    https_listen: str = ""
    #: Larger request bodies are refused (413) before they are read.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    #: JSON bodies nested deeper than this are refused (400) before they are decoded.
    max_json_depth: int = Field(default=32, ge=2, le=256)

    @field_validator("listen", "https_listen")
    @classmethod
    def _valid_listen(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "https_listen" and value == "":
            return value
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

    @property
    def https_host(self) -> str | None:
        return self.https_listen.rpartition(":")[0].strip("[]") if self.https_listen else None

    @property
    def https_port(self) -> int | None:
        return int(self.https_listen.rpartition(":")[2]) if self.https_listen else None


class ClockSection(_Section):
    """Wall-clock trust (the Pi has no RTC)."""

    #: Trust the wall clock without NTP (development machines). Otherwise the kernel's NTP state decides.
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
    power: PowerSettings = PowerSettings()
    care: CareSettings = CareSettings()
    #: The second alarm path: SMS and calls through the cellular modem when the platform cannot be reached.
    modem: ModemSettings = ModemSettings()
    #: A Wi-Fi access point for the install window, for homes without a LAN.
    hotspot: HotspotSettings = HotspotSettings()
    #: Log level at start; the platform may change it.
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
