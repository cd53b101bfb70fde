"""The platform side of the remote protocol, for tests: publish desired documents and commands, read reports."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import aiomqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.app import Gateway
from gateway.remote.report import effective_summary
from gateway.remote.signing import CONTEXT_COMMAND, CONTEXT_DESIRED, sign
from gateway.topics import Topics
from tests.support.collector import Collector


class Platform:
    """Publishes to one gateway's topics and reads what it answers (through a Collector)."""

    def __init__(
        self, host: str, port: int, gateway: str, col: Collector, key: Ed25519PrivateKey | None = None
    ) -> None:
        self.host, self.port = host, port
        self.topics = Topics(gateway)
        self.gateway = gateway
        self.col = col
        self.key = key

    async def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        async with aiomqtt.Client(self.host, self.port) as client:
            await client.publish(topic, payload, qos=1, retain=retain)

    def desired_bytes(self, doc: dict[str, Any], *, signed: bool | None = None) -> bytes:
        if signed or (signed is None and self.key is not None):
            assert self.key is not None
            doc = sign(doc, self.key, CONTEXT_DESIRED)
        return json.dumps(doc).encode()

    async def push(self, doc: dict[str, Any] | bytes, *, signed: bool | None = None) -> None:
        payload = doc if isinstance(doc, bytes) else self.desired_bytes(doc, signed=signed)
        await self.publish(self.topics.config_desired, payload, retain=True)

    def command(
        self,
        cmd: str,
        args: dict[str, Any] | None = None,
        *,
        cmd_id: str | None = None,
        ttl_s: float = 60,
        signed: bool | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        key = self.key if signed or signed is None else None
        if signed:
            assert key is not None
        return command_body(self.gateway, cmd, args, cmd_id=cmd_id, ttl_s=ttl_s, key=key, **extra)

    async def send(self, body: dict[str, Any] | bytes) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.publish(self.topics.cmd, payload)

    # ----------------------------------------------------------------- answers

    def reports(self) -> list[dict[str, Any]]:
        return [json.loads(p) for t, p, _ in self.col.messages if t == self.topics.config_reported and p]

    def results(self, cmd_id: str | None = None) -> list[dict[str, Any]]:
        out = [json.loads(p) for t, p, _ in self.col.messages if t == self.topics.cmd_result]
        return [r for r in out if cmd_id is None or r["id"] == cmd_id]

    async def report_where(self, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
        await self.col.wait_for(lambda c: any(pred(r) for r in self.reports()), timeout)
        return [r for r in self.reports() if pred(r)][-1]

    async def report_for(
        self,
        version: int | None = None,
        hash_: str | None = None,
        timeout: float = 10.0,
        state: str | None = None,
    ) -> dict[str, Any]:
        def pred(r: dict[str, Any]) -> bool:
            return (
                (version is None or r["version"] == version)
                and (hash_ is None or r["hash"] == hash_)
                and (state is None or r["state"] == state)
            )

        return await self.report_where(pred, timeout)

    async def result(self, cmd_id: str, timeout: float = 10.0, n: int = 1) -> dict[str, Any]:
        await self.col.wait_for(lambda c: len(self.results(cmd_id)) >= n, timeout)
        return self.results(cmd_id)[n - 1]


def command_body(
    gateway_id: str,
    cmd: str,
    args: dict[str, Any] | None = None,
    *,
    cmd_id: str | None = None,
    ttl_s: float = 60,
    key: Ed25519PrivateKey | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A command as the platform sends it, expiring ``ttl_s`` from now (signed for ``gateway_id`` with ``key``;
    ``extra`` members, ``gateway`` among them, are added as given)."""
    body: dict[str, Any] = {
        "id": cmd_id or f"c-{uuid.uuid4().hex[:12]}",
        "cmd": cmd,
        "args": args or {},
        "expires_at": int((time.time() + ttl_s) * 1000),
        **extra,
    }
    if key is not None:
        body.setdefault("gateway", gateway_id)
        body = sign(body, key, CONTEXT_COMMAND)
    return body


def assert_matches_gateway(report: dict[str, Any], gw: Gateway) -> None:
    """The report says exactly what the gateway runs."""
    assert report["effective"] == effective_summary(gw.config, gw.registry)
    sync = gw.services.remote_config
    applied = getattr(sync, "applied", None)
    if applied is None:
        assert report["applied"] is None
    else:
        assert report["applied"] == {"version": applied.version, "hash": applied.hash}
