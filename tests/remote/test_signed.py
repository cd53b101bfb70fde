"""With a platform key configured, unsigned or badly signed documents and commands are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.app import Gateway
from gateway.remote.signing import CONTEXT_COMMAND, CONTEXT_DESIRED, sign
from gateway.tools.local_broker import Mosquitto
from tests.remote.conftest import public_b64
from tests.remote.platform import Platform, assert_matches_gateway
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)


async def outcome(p: Platform, payload: bytes) -> dict[str, Any]:
    # The gateway may have started before its uplink connected: the report it publishes on connecting is not
    # an answer to this push.
    await p.col.wait_for(lambda c: len(p.reports()) >= 1)
    n = len(p.reports())
    await p.push(payload)
    await p.col.wait_for(lambda c: len(p.reports()) > n)
    return p.reports()[-1]


async def test_documents_need_a_valid_signature(
    broker: Mosquitto, tmp_path: Path, platform_key: Ed25519PrivateKey
) -> None:
    cfg = make_config(tmp_path / "state", broker.url, remote={"platform_key": public_b64(platform_key)})
    other = Ed25519PrivateKey.generate()
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col, key=platform_key)
        doc = {"version": 1, "gateway": "gw-test", "heartbeat_interval_s": 111}

        cases: list[tuple[bytes, str]] = [
            (json.dumps(doc).encode(), "signature_missing"),
            (json.dumps(sign(doc, other, CONTEXT_DESIRED)).encode(), "signature_invalid"),
            (json.dumps(sign(doc, platform_key, CONTEXT_COMMAND)).encode(), "signature_invalid"),  # wrong context
            (
                json.dumps({**sign(doc, platform_key, CONTEXT_DESIRED), "heartbeat_interval_s": 5}).encode(),
                "signature_invalid",
            ),  # changed after signing
            (json.dumps({**doc, "signature": {"alg": "rsa", "sig": "AAAA"}}).encode(), "signature_invalid"),
            (json.dumps({**doc, "signature": "deadbeef"}).encode(), "signature_invalid"),
            (json.dumps(sign({**doc, "gateway": "gw-other"}, platform_key, CONTEXT_DESIRED)).encode(), "wrong_gateway"),
            (
                json.dumps(
                    sign({k: v for k, v in doc.items() if k != "gateway"}, platform_key, CONTEXT_DESIRED)
                ).encode(),
                "wrong_gateway",
            ),
        ]
        for payload, reason in cases:
            report = await outcome(p, payload)
            assert (report["state"], report["reason"]) == ("rejected", reason), report
            assert gw.config.health.heartbeat_interval_s != 111
            assert_matches_gateway(report, gw)

        # the platform may format its JSON as it likes: the signature covers the canonical form
        signed = sign(doc, platform_key, CONTEXT_DESIRED)
        pretty = json.dumps(dict(reversed(list(signed.items()))), indent=4, ensure_ascii=False).encode()
        report = await outcome(p, pretty)
        assert (report["state"], report["version"]) == ("applied", 1)
        assert gw.config.health.heartbeat_interval_s == 111
        assert_matches_gateway(report, gw)


async def test_commands_need_a_valid_signature(
    broker: Mosquitto, tmp_path: Path, platform_key: Ed25519PrivateKey
) -> None:
    key_file = tmp_path / "platform.pem"
    key_file.write_bytes(
        platform_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    cfg = make_config(tmp_path / "state", broker.url, remote={"platform_key_file": str(key_file)})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col, key=platform_key)
        unsigned = p.command("ping", signed=False)
        await p.send(unsigned)
        assert (await p.result(unsigned["id"]))["reason"] == "signature_missing"
        forged = p.command("ping", signed=False, gateway="gw-test")
        forged = sign(forged, Ed25519PrivateKey.generate(), CONTEXT_COMMAND)
        await p.send(forged)
        assert (await p.result(forged["id"]))["reason"] == "signature_invalid"
        as_document = sign(p.command("ping", signed=False, gateway="gw-test"), platform_key, CONTEXT_DESIRED)
        await p.send(as_document)
        assert (await p.result(as_document["id"]))["reason"] == "signature_invalid"
        good = p.command("ping")
        await p.send(good)
        assert (await p.result(good["id"]))["status"] == "ok"
        assert set(gw.services.remote_commands.seen) == {good["id"]}  # type: ignore[union-attr]


async def test_unusable_key_file_fails_closed(
    broker: Mosquitto, tmp_path: Path, platform_key: Ed25519PrivateKey
) -> None:
    cfg = make_config(tmp_path / "state", broker.url, remote={"platform_key_file": str(tmp_path / "missing.pem")})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col, key=platform_key)
        report = await outcome(p, p.desired_bytes({"version": 1, "gateway": "gw-test", "log_level": "debug"}))
        assert (report["state"], report["reason"]) == ("rejected", "signature_invalid")
        assert "platform key unusable" in report["detail"]
        body = p.command("ping")
        await p.send(body)
        assert (await p.result(body["id"]))["reason"] == "signature_invalid"
