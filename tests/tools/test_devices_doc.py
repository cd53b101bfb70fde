"""docs/devices.md is generated from the drivers' mapping tables, and says only what the vocabulary knows."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from core.vocabulary import CAPABILITIES, DEVICE_TYPES
from drivers.base import SupportedDevice
from drivers.zigbee.supported import SUPPORTED
from gateway.tools import devices_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "devices.md"


def test_shipped_devices_page_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == devices_doc.render(), (
        "docs/devices.md is stale: run .venv/bin/python -m gateway.tools.devices_doc > docs/devices.md"
    )


def test_every_zigbee_family_reports_only_vocabulary_capabilities() -> None:
    assert SUPPORTED, "the Zigbee driver lists no supported family"
    for row in SUPPORTED:
        assert set(row.reports) <= set(CAPABILITIES), row
        assert row.device_type in (*DEVICE_TYPES, "remote", "siren"), row
        assert row.pairing and row.models


def test_a_transport_without_a_supported_module_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "drivers.ble.supported", None)  # import fails with ModuleNotFoundError
    page = devices_doc.render()
    assert "## Zigbee" in page and "## Bluetooth LE" not in page


def test_a_transport_with_a_supported_module_gets_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("drivers.ble.supported")
    fake.SUPPORTED = [  # type: ignore[attr-defined]
        SupportedDevice("ble", "Xiaomi", ("MCCGQ02HL",), "door", ("contact", "battery"), "adopt it on the page")
    ]
    monkeypatch.setitem(sys.modules, "drivers.ble.supported", fake)
    page = devices_doc.render()
    assert "## Bluetooth LE" in page and "| Xiaomi | `MCCGQ02HL` | door | contact, battery |" in page
