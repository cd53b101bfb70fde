"""``[hotspot]``: checked at load, local-only (the platform cannot turn a box's radio into an access point)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import ConfigError, parse_config
from gateway.hotspot.credentials import PASSWORD_ALPHABET, load_or_create, ssid_for
from gateway.remote.desired import LOCAL_ONLY, DesiredDocument
from gateway.remote.inbound import schema_rejection


def test_defaults_and_checks() -> None:
    cfg = parse_config({"gateway": {"id": "gw-1"}})
    assert cfg.hotspot.enabled is False  # a development machine's Wi-Fi is left alone
    assert (cfg.hotspot.ip, cfg.hotspot.prefix) == ("10.42.0.1", 24)
    for bad in ({"address": "10.42.0.0/24"}, {"address": "10.42.0.1"}, {"interface": "wlan0; rm"}, {"band": "n"}):
        with pytest.raises(ConfigError, match="hotspot"):
            parse_config({"gateway": {"id": "gw-1"}, "hotspot": bad})


def test_the_platform_cannot_push_it() -> None:
    with pytest.raises(ValidationError) as err:
        DesiredDocument.model_validate_json(b'{"version": 1, "hotspot": {"enabled": true}}', strict=True)
    rej = schema_rejection(err.value, LOCAL_ONLY)
    assert rej.reason == "local_only" and "install access point" in rej.detail


def test_ssid_fits_and_password_is_readable(tmp_path: Path) -> None:
    assert ssid_for("gw-0042") == "fbgw-gw-0042"
    assert len(ssid_for("x" * 64).encode()) == 32
    assert len(ssid_for("网关" * 20).encode()) <= 32  # never a cut character
    creds = load_or_create(tmp_path, "gw-1")
    assert set(creds.password) <= set(PASSWORD_ALPHABET) and len(creds.password) == 12
    (tmp_path / "hotspot" / "wifi.json").write_text("{not json")
    with pytest.raises(ValueError, match="remove it to make new ones"):
        load_or_create(tmp_path, "gw-1")
