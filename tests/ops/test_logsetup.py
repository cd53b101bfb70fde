"""Log lines: structured, level switchable at runtime, and never carrying a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.secrets import MASK, Redactor, add_secret
from gateway.logsetup import (
    StructuredFormatter,
    register_config_secrets,
    set_level,
    setup_logging,
)
from tests.support.gateway import make_config

BINDKEY = "231d39c1d7cc1ab1aee224cd096db932"
NETWORK_KEY = "01:03:05:07:09:0b:0d:0f:00:02:04:06:08:0a:0c:0d"
INSTALL_CODE = "83FED3407A939723A5C639B26916D505C3B5"

LEAKY = [
    (f"pairing ble-a4c138000001 with bindkey {BINDKEY}", BINDKEY),
    (f"zigbee network_key={NETWORK_KEY}", NETWORK_KEY),
    (f"install code {INSTALL_CODE} accepted", INSTALL_CODE),
    ("connecting to mqtts://gw-1:Tr0ub4dor&3@platform.example:8883", "Tr0ub4dor&3"),
    ('{"uplink": {"password": "correct horse battery"}}', "correct horse battery"),
    ("Device(id='ble-1', secret='Zz9-opaque-token')", "Zz9-opaque-token"),
    ("installer_code: 4711-0815", "4711-0815"),
    ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIByZ\n-----END EC PRIVATE KEY-----", "MHcCAQEEIByZ"),
    ("frame b'" + "".join(f"\\x{i:02x}" for i in range(20)) + "'", "\\x00\\x01\\x02"),
]
HARMLESS = [
    "event 0190a3b4-1234-7abc-8def-0123456789ab committed seq 42",
    "zigbee device zb-00124b0001020304 joined (ieee 00:12:4b:00:01:02:03:04)",
    "ble-a4c138000001 rssi -71 battery 17",
    "outbox open: 12 rows (1 alarms), 4096 bytes, next seq 99",
]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = setup_logging("info", fmt="text", stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)


@pytest.mark.parametrize(("text", "secret"), LEAKY)
def test_secret_patterns_masked(text: str, secret: str) -> None:
    out = Redactor()(text)
    assert secret not in out and MASK in out


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_lines_untouched(text: str) -> None:
    assert Redactor()(text) == text


def test_registered_values_masked_anywhere(captured: io.StringIO) -> None:
    add_secret("plain-words-pass")
    add_secret(bytes.fromhex("00112233445566778899aabbccddeeff"))
    log = logging.getLogger("gateway.test")
    log.info("odd place: %s and %s", "xplain-words-passx", "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff")
    text = captured.getvalue()
    assert "plain-words-pass" not in text and "00:11:22:33" not in text


def test_config_secrets_registered(captured: io.StringIO, tmp_path) -> None:
    cfg = make_config(tmp_path, "mqtt://127.0.0.1:1", uplink={"password": "cfg-pass-77"})
    register_config_secrets(cfg)
    logging.getLogger("gateway.test").warning("login failed for pw %s", "cfg-pass-77")
    assert "cfg-pass-77" not in captured.getvalue()


def test_tracebacks_and_extras_redacted(captured: io.StringIO) -> None:
    log = logging.getLogger("gateway.test")
    try:
        raise ValueError(f"bad bindkey {BINDKEY}")
    except ValueError:
        log.exception("pairing failed", extra={"device": "ble-1", "bindkey": "ffeeddccbbaa99887766554433221100"})
    text = captured.getvalue()
    assert BINDKEY not in text and "ffeeddcc" not in text
    assert "device=ble-1" in text and "Traceback" in text


def test_structured_formats() -> None:
    record = logging.LogRecord("gateway.uplink", logging.WARNING, __file__, 1, "lost %s", ("broker",), None)
    record.device = "btn-1"
    assert StructuredFormatter("journal").format(record) == "<4>gateway.uplink: lost broker device=btn-1"
    text = StructuredFormatter("text").format(record)
    assert text.endswith(" WARNING gateway.uplink: lost broker device=btn-1") and text[:4].isdigit()
    doc = json.loads(StructuredFormatter("json").format(record))
    assert doc["level"] == "warning" and doc["msg"] == "lost broker" and doc["device"] == "btn-1"


def test_level_changes_at_runtime(captured: io.StringIO) -> None:
    log = logging.getLogger("gateway.test")
    log.debug("hidden-1")
    set_level("debug")
    log.debug("shown-2")
    set_level("error")
    log.warning("hidden-3")
    text = captured.getvalue()
    assert "shown-2" in text and "hidden-1" not in text and "hidden-3" not in text
    with pytest.raises(ValueError):
        set_level("loud")
