"""The retained ``config/reported`` document: what the gateway did with the last desired document, and what
it actually runs.

``effective`` is read from the running gateway (``gw.config`` and the device registry) every time the report
is published, never from the document, so the platform sees the truth even if something else changed it.
Secrets (password, keys) are never reported.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from core.devices import Device
from gateway.config import Config
from gateway.remote.signing import canonical_json
from gateway.uplink import BATCHING_KEYS

State = Literal["applied", "rejected", "local"]


def document_hash(doc: dict[str, Any] | None, payload: bytes) -> str:
    """``sha256:<hex>`` of the canonical document without its signature (of the raw bytes if not JSON)."""
    if doc is not None:
        try:
            data = canonical_json({k: v for k, v in doc.items() if k != "signature"})
        except (TypeError, ValueError):
            data = payload
    else:
        data = payload
    return "sha256:" + hashlib.sha256(data).hexdigest()


def effective_summary(cfg: Config, devices: Iterable[Device]) -> dict[str, Any]:
    """The remotely manageable settings as the gateway runs them right now."""
    up = cfg.uplink
    return {
        "rules": cfg.rules.model_dump(mode="json"),
        "heartbeat_interval_s": cfg.health.heartbeat_interval_s,
        "uplink": {key: getattr(up, key) for key in (*BATCHING_KEYS, "profile")},
        "log_level": cfg.log_level,
        "county": cfg.web.county,
        "connection": {
            "broker": up.broker,
            "username": up.username,
            "tls": up.tls,
            "client_certificate": up.cert_file is not None,
        },
        "devices": {d.id: {"name": d.name, "room": d.room} for d in devices},
    }


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to the last desired document (or ``local`` when none was ever applied)."""

    state: State
    version: int | None = None
    hash: str | None = None
    reason: str | None = None
    detail: str = ""
    #: sha256 of the exact bytes received (signature included): a refused payload is not evaluated again,
    #: but the same content sent again with a (new) signature is.
    payload_sha256: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "version": self.version,
            "hash": self.hash,
            "reason": self.reason,
            "detail": self.detail,
            "payload_sha256": self.payload_sha256,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Outcome | None:
        state = raw.get("state")
        if state not in ("applied", "rejected", "local"):
            return None
        version = raw.get("version")
        return cls(
            state,
            version if isinstance(version, int) else None,
            raw.get("hash"),
            raw.get("reason"),
            str(raw.get("detail") or ""),
            raw.get("payload_sha256"),
        )


@dataclass(frozen=True, slots=True)
class Applied:
    """The document the gateway runs: its version and hash."""

    version: int
    hash: str


def payload_digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def build_report(
    gateway_id: str, outcome: Outcome, applied: Applied | None, cfg: Config, devices: Iterable[Device]
) -> dict[str, Any]:
    return {
        "gateway": gateway_id,
        **outcome.as_json(),
        "applied": None if applied is None else {"version": applied.version, "hash": applied.hash},
        "effective": effective_summary(cfg, devices),
        "ts": int(time.time() * 1000),
    }
