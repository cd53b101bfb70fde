"""The protocol pieces on their own: schema file, examples, canonical JSON, signatures, merge, reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from gateway.config import parse_config
from gateway.remote.actions import COMMANDS
from gateway.remote.commands import CommandEnvelope
from gateway.remote.desired import DesiredDocument, effective_config
from gateway.remote.inbound import Rejection, parse_object, reason_for, schema_rejection
from gateway.remote.schema import SCHEMA_PATH, render
from gateway.remote.signing import (
    CONTEXT_COMMAND,
    CONTEXT_DESIRED,
    SignatureError,
    canonical_json,
    load_platform_key,
    sign,
    verify,
)
from gateway.settings.remote import RemoteSettings
from tests.support.gateway import config_dict

pytestmark = pytest.mark.timeout(30)

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
#: The example platform key of docs/remote.md (private key bytes 00 01 02 ... 1f). Never use it for real.
EXAMPLE_PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="


def test_shipped_schema_is_generated_from_the_model() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), (
        "config/schema/desired-config.schema.json is stale: run `python -m gateway.remote.schema`"
    )


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("desired-*.json")), ids=lambda p: p.name)
def test_desired_examples_are_valid(path: Path) -> None:
    raw = path.read_bytes()
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(json.loads(raw))
    DesiredDocument.model_validate_json(raw, strict=True)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("cmd-*.json")), ids=lambda p: p.name)
def test_command_examples_are_valid(path: Path) -> None:
    env = CommandEnvelope.model_validate_json(path.read_bytes(), strict=True)
    COMMANDS[env.cmd].args.model_validate(env.args)


def test_every_command_has_an_example() -> None:
    shown = {json.loads(p.read_text())["cmd"] for p in EXAMPLES.glob("cmd-*.json")}
    assert shown == set(COMMANDS)


def test_signed_examples_verify_with_the_documented_key() -> None:
    key = load_platform_key(RemoteSettings(platform_key=EXAMPLE_PUBLIC_KEY))
    assert key is not None
    verify(json.loads((EXAMPLES / "desired-signed.json").read_bytes()), key, CONTEXT_DESIRED)
    verify(json.loads((EXAMPLES / "cmd-signed-ping.json").read_bytes()), key, CONTEXT_COMMAND)


# RFC 8785 section 3.2.2.3 / appendix B number vectors (IEEE 754 value -> ECMAScript string)
NUMBERS = [
    (0.0, "0"),
    (-0.0, "0"),
    (1.0, "1"),
    (-1.5, "-1.5"),
    (4.5, "4.5"),
    (0.002, "0.002"),
    (0.000001, "0.000001"),
    (1e-7, "1e-7"),
    (1e21, "1e+21"),
    (1e20, "100000000000000000000"),
    (123456789012345680000.0, "123456789012345680000"),
    (333333333.3333333, "333333333.3333333"),
    (9007199254740992.0, "9007199254740992"),
    (295147905179352830000.0, "295147905179352830000"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (-1e-7, "-1e-7"),
    (1.5e-5, "0.000015"),
]


@pytest.mark.parametrize(("value", "text"), NUMBERS)
def test_canonical_numbers(value: float, text: str) -> None:
    assert canonical_json(value) == text.encode()


def test_canonical_objects() -> None:
    # members sorted by UTF-16 code units: U+E000 sorts after U+1F600 (a surrogate pair starting D83D)
    doc = {"b": [1, True, None, "é\n"], "a": {"z": 1, "y": 2.5}, "\ue000": 1, "\U0001f600": 2, "1": 3}
    assert canonical_json(doc) == (
        '{"1":3,"a":{"y":2.5,"z":1},"b":[1,true,null,"é\\n"],"\U0001f600":2,"\ue000":1}'.encode()
    )
    with pytest.raises(ValueError):
        canonical_json(float("nan"))


def test_signature_round_trip_and_tamper() -> None:
    key = Ed25519PrivateKey.generate()
    doc = sign({"version": 3, "heartbeat_interval_s": 60.0}, key, CONTEXT_DESIRED)
    verify(doc, key.public_key(), CONTEXT_DESIRED)
    verify(json.loads(json.dumps(doc, indent=3)), key.public_key(), CONTEXT_DESIRED)  # formatting is free
    for bad, reason in [
        ({**doc, "version": 4}, "signature_invalid"),
        ({k: v for k, v in doc.items() if k != "signature"}, "signature_missing"),
        ({**doc, "signature": {"alg": "ed25519", "sig": "!!"}}, "signature_invalid"),
        ({**doc, "signature": {"alg": "ed25519", "sig": "AAAA"}}, "signature_invalid"),
        ({**doc, "signature": {"alg": "ed25519", "sig": doc["signature"]["sig"], "kid": "x"}}, "signature_invalid"),
    ]:
        with pytest.raises(SignatureError) as err:
            verify(bad, key.public_key(), CONTEXT_DESIRED)
        assert err.value.reason == reason
    with pytest.raises(SignatureError):
        verify(doc, key.public_key(), CONTEXT_COMMAND)


def test_remote_settings_keys(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        RemoteSettings(platform_key="not base64 at all!")
    with pytest.raises(ValidationError):
        RemoteSettings(platform_key="AAAA")  # 3 bytes
    with pytest.raises(ValidationError):
        RemoteSettings(platform_key=EXAMPLE_PUBLIC_KEY, platform_key_file=tmp_path / "k")
    raw_file = tmp_path / "k.b64"
    raw_file.write_text(EXAMPLE_PUBLIC_KEY + "\n")
    assert load_platform_key(RemoteSettings(platform_key_file=raw_file)) is not None
    assert load_platform_key(RemoteSettings()) is None
    with pytest.raises(ValidationError):
        RemoteSettings(max_document_bytes=10)


def local(tmp_path: Path, **sections: Any) -> Any:
    return parse_config(config_dict(tmp_path, "mqtt://127.0.0.1:1883", **sections))


def test_effective_config_is_local_plus_document(tmp_path: Path) -> None:
    cfg = local(
        tmp_path, uplink={"batch_max_events": 300, "username": "local-user"}, health={"heartbeat_interval_s": 1800}
    )
    doc = DesiredDocument.model_validate_json(b'{"version": 1, "uplink": {"batch_max_bytes": 2048}}', strict=True)
    eff = effective_config(cfg, doc, tmp_path / "tls")
    assert (eff.uplink.batch_max_events, eff.uplink.batch_max_bytes) == (300, 2048)
    assert eff.uplink.username == "local-user" and eff.health.heartbeat_interval_s == 1800
    assert eff.gateway == cfg.gateway and eff.drivers == cfg.drivers and eff.remote == cfg.remote
    conn = DesiredDocument.model_validate_json(
        b'{"version": 2, "connection": {"broker": "mqtt://10.0.0.1:1883"}}', strict=True
    )
    eff = effective_config(cfg, conn, tmp_path / "tls")
    assert eff.uplink.broker == "mqtt://10.0.0.1:1883" and eff.uplink.username is None  # replaced as a unit
    assert effective_config(cfg, None, tmp_path) is cfg


def test_reasons() -> None:
    assert [
        reason_for(t)
        for t in (
            "extra_forbidden",
            "missing",
            "int_type",
            "string_type",
            "less_than_equal",
            "literal_error",
            "value_error",
            "int_parsing",
        )
    ] == [
        "unknown_key",
        "missing_key",
        "wrong_type",
        "wrong_type",
        "out_of_range",
        "out_of_range",
        "invalid",
        "wrong_type",
    ]
    with pytest.raises(ValidationError) as err:
        DesiredDocument.model_validate_json(b'{"version": "1", "bogus": 1, "state_dir": "/"}', strict=True)
    rej = schema_rejection(err.value, {"state_dir": "the state directory is local-only"})
    assert rej.reason == "local_only"  # the most fundamental problem wins; all are in the detail
    assert "bogus" in rej.detail and "version" in rej.detail
    with pytest.raises(Rejection) as too_big:
        parse_object(b"{}" + b" " * 2000, 1024)
    assert too_big.value.reason == "too_large"
    with pytest.raises(Rejection) as deep:
        parse_object(b"[" * 5000 + b"]" * 5000, 1 << 20)
    assert deep.value.reason == "not_json"


def test_nesting_is_bounded() -> None:
    parse_object(b'{"a":' * 31 + b"1" + b"}" * 31, 1 << 20)
    with pytest.raises(Rejection) as err:
        parse_object(b'{"a":' * 600 + b"1" + b"}" * 600, 1 << 20)
    assert err.value.reason == "not_json" and "nested" in err.value.detail
