"""The desired config document the platform pushes, and how it lays over the local config.

One typed model, strict (no type coercion: ``"5"`` is not 5) and closed (unknown keys are errors). Ranges are
taken from the local config models themselves, so a value the platform may push is exactly a value the local
TOML may hold. ``config/schema/desired-config.schema.json`` is generated from this model
(``python -m gateway.remote.schema``).

Semantics (docs/remote.md): the effective config is ``local config ⊕ document``. A key present in the document
overrides the local value; a key absent keeps the local value, so removing a key in a later version returns to
the local setting. ``connection`` is the exception: it replaces the broker, credentials and certificates as
one unit. Local-only settings (gateway identity, state dir, the ``[remote]`` section with the platform key,
web sign-in, drivers, outbox) have no place in the document at all.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gateway.config import Config, UplinkSection
from gateway.rules.settings import RulesSettings
from gateway.settings.care import CareSettings
from gateway.settings.health import HealthSettings
from gateway.settings.modem import ModemSettings
from gateway.settings.web import WebSettings

#: Top-level names a document may not use, with why (reported as ``local_only``).
LOCAL_ONLY: dict[str, str] = {
    "gateway_id": "the gateway identity is local-only",
    "id": "the gateway identity is local-only",
    "state_dir": "the state directory is local-only",
    "remote": "the [remote] section (platform key, limits) is local-only",
    "platform_key": "the platform key is local-only",
    "platform_key_file": "the platform key is local-only",
    "keys": "keys are local-only",
    "web": "web sign-in settings are local-only (only 'county' may be pushed)",
    "installer_code_hash": "the installer code is local-only",
    "drivers": "driver sections are local-only",
    "outbox": "outbox settings are local-only",
    "http": "the local web listener is local-only",
    "hotspot": "the install access point is local-only",
    "clock": "clock settings are local-only",
    "health": "only 'heartbeat_interval_s' may be pushed",
}

DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Pem = Annotated[str, StringConstraints(max_length=32 * 1024, pattern=r"-----BEGIN [A-Z0-9 ]+-----")]


def _field(model: type[BaseModel], name: str) -> list[Any]:
    """The constraints of a local config field, so pushed values obey exactly the same ranges."""
    return list(model.model_fields[name].metadata)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True, defer_build=True)


class DeviceDesired(_Strict):
    """Name and room shown on pages, in events and in the acceptance report."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    """Display name, e.g. 卧室呼叫按钮."""
    room: Annotated[str, StringConstraints(max_length=64)] | None = None
    """Room, e.g. bedroom / 卧室."""


class UplinkBatching(_Strict):
    """How the uplink batches ordinary events (alarms are never batched behind them)."""

    batch_max_events: Annotated[int, *_field(UplinkSection, "batch_max_events")] | None = None
    """Most events in one MQTT message."""
    batch_max_bytes: Annotated[int, *_field(UplinkSection, "batch_max_bytes")] | None = None
    """Most bytes in one MQTT message."""
    max_inflight_messages: Annotated[int, *_field(UplinkSection, "max_inflight_messages")] | None = None
    """QoS 1 messages of ordinary events awaiting PUBACK at once."""
    profile: Literal["fbgw", "thingsboard", "webhook"] | None = None
    """Wire format (``[uplink] profile``). A change is tried like pushed connection settings and rolled back if
    the platform does not answer in time; the profile's own settings ([uplink.thingsboard], [uplink.webhook])
    are local. Leaving fbgw ends this channel: the other profiles do not carry config/desired."""


class ConnectionSettings(_Strict):
    """Broker, credentials and certificates; tried with a deadline before they are kept."""

    broker: Annotated[str, StringConstraints(max_length=512, pattern=r"^mqtts?://[^/?#\s]+$")]
    """mqtt://host:port or mqtts://host:port."""
    username: Annotated[str, StringConstraints(max_length=256)] | None = None
    """MQTT user name; absent: none."""
    password: Annotated[str, StringConstraints(max_length=256)] | None = Field(default=None, repr=False)
    """MQTT password; never reported, masked in logs."""
    ca_pem: Pem | None = None
    """CA certificate(s) that sign the broker's certificate, PEM."""
    cert_pem: Pem | None = None
    """Client certificate (mutual TLS), PEM; needs ``key_pem``."""
    key_pem: Pem | None = Field(default=None, repr=False)
    """Private key of the client certificate, PEM, unencrypted (stored 0600 in the state directory)."""

    @model_validator(mode="after")
    def _certificates_parse(self) -> ConnectionSettings:
        tls = self.broker.startswith("mqtts://")
        if not tls and (self.ca_pem or self.cert_pem or self.key_pem):
            raise ValueError("certificates need an mqtts:// broker")
        if (self.cert_pem is None) != (self.key_pem is None):
            raise ValueError("cert_pem and key_pem go together")
        if not (self.ca_pem or self.cert_pem or self.key_pem):
            return self
        from cryptography import x509  # loaded only when certificates are pushed
        from cryptography.hazmat.primitives import serialization

        try:
            if self.ca_pem:
                x509.load_pem_x509_certificates(self.ca_pem.encode())
            if self.cert_pem:
                x509.load_pem_x509_certificate(self.cert_pem.encode())
            if self.key_pem:
                serialization.load_pem_private_key(self.key_pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"certificate or key does not parse: {exc}") from None
        return self


class DesiredDocument(_Strict):
    """The whole desired config. Only ``version`` is required; every section is optional."""

    version: Annotated[int, Field(ge=1, le=2**53 - 1)]
    """Strictly increasing: a different document whose version is not above the applied one is stale."""
    gateway: Annotated[str, StringConstraints(max_length=64)] | None = None
    """The target gateway id; required in signed documents (one signed for one box is refused by another)."""
    rules: RulesSettings | None = None
    """Rule thresholds and schedules: the keys of the local ``[rules]`` section."""
    care: CareSettings | None = None
    """Daily care routines (reminders, check-in, caregiver badges, summary): replaces the local ``[care]``."""
    devices: Annotated[dict[DeviceId, DeviceDesired], Field(max_length=512)] | None = None
    """Names and rooms of paired devices, by device id; unknown ids are refused (``unknown_device``)."""
    heartbeat_interval_s: Annotated[float, *_field(HealthSettings, "heartbeat_interval_s")] | None = None
    """Seconds between heartbeats (``[health] heartbeat_interval_s``); 0 turns the heartbeat off."""
    uplink: UplinkBatching | None = None
    """Uplink batching (``[uplink]`` keys of the same names)."""
    log_level: Literal["debug", "info", "warning", "error"] | None = None
    """Log level of the whole gateway (top-level ``log_level``)."""
    county: Annotated[str, *_field(WebSettings, "county")] | None = None
    """County acceptance profile (``[web] county``), one shipped in gateway/web/counties (``unknown_county``)."""
    modem: ModemSettings | None = None
    """The second alarm path: contacts (label, number, role), the elder's name, timings and budgets (the keys
    of the local ``[modem]`` section; given keys replace the local ones, ``contacts`` as a whole list)."""
    connection: ConnectionSettings | None = None
    """Replaces broker, credentials and certificates as one unit (see docs/remote.md)."""
    signature: dict[str, str] | None = None
    """The detached Ed25519 signature (gateway.remote.signing); required when a platform key is configured."""


# ------------------------------------------------------------------------------------------- effective config

#: Scalar document keys -> (local section or None for top level, key in it).
SCALAR_TARGETS: dict[str, tuple[str | None, str]] = {
    "heartbeat_interval_s": ("health", "heartbeat_interval_s"),
    "log_level": (None, "log_level"),
    "county": ("web", "county"),
}


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def tls_files(conn: ConnectionSettings, tls_dir: Path) -> dict[str, tuple[Path, bytes]]:
    """Where each pushed PEM lives: content-addressed, so writing one never disturbs the live connection."""
    out: dict[str, tuple[Path, bytes]] = {}
    for name, pem in (("ca_file", conn.ca_pem), ("cert_file", conn.cert_pem), ("key_file", conn.key_pem)):
        if pem is not None:
            data = pem.encode()
            out[name] = (tls_dir / f"{name[:-5]}-{hashlib.sha256(data).hexdigest()[:16]}.pem", data)
    return out


def effective_config(local: Config, doc: DesiredDocument | None, tls_dir: Path) -> Config:
    """``local ⊕ doc``, validated whole as a :class:`Config`. Pure: writes nothing (see :func:`tls_files`).

    Raises pydantic's ValidationError when the combination is not a valid config.
    """
    if doc is None:
        return local
    raw = local.model_dump()
    if doc.rules is not None:
        raw["rules"] = _deep_merge(raw["rules"], doc.rules.model_dump(exclude_unset=True))
    if doc.care is not None:
        raw["care"] = doc.care.model_dump()
    for key, (section, target) in SCALAR_TARGETS.items():
        value = getattr(doc, key)
        if value is not None:
            (raw[section] if section else raw)[target] = value
    if doc.uplink is not None:
        raw["uplink"].update(doc.uplink.model_dump(exclude_none=True))
    if doc.modem is not None:
        raw["modem"].update(doc.modem.model_dump(exclude_unset=True))
    if doc.connection is not None:
        conn = doc.connection
        files = tls_files(conn, tls_dir)
        raw["uplink"].update(
            broker=conn.broker,
            username=conn.username,
            password=conn.password,
            ca_file=files["ca_file"][0] if "ca_file" in files else None,
            cert_file=files["cert_file"][0] if "cert_file" in files else None,
            key_file=files["key_file"][0] if "key_file" in files else None,
        )
    return Config.model_validate(raw)


def uplink_differs(a: UplinkSection, b: UplinkSection, keys: tuple[str, ...]) -> bool:
    return any(getattr(a, k) != getattr(b, k) for k in keys)
