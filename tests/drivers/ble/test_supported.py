"""drivers/ble/supported.py: derived from the driver's tables, so docs/devices.md cannot disagree with them."""

from __future__ import annotations

from core.vocabulary import CAPABILITIES
from drivers.base import SupportedDevice
from drivers.ble.config import TYPE_CAPABILITIES, primary_capabilities
from drivers.ble.mibeacon import XIAOMI_MODELS
from drivers.ble.profiles import PROFILES
from drivers.ble.supported import SUPPORTED


def test_every_row_reports_what_its_type_is_for() -> None:
    assert all(isinstance(row, SupportedDevice) and row.transport == "ble" for row in SUPPORTED)
    for row in SUPPORTED:
        assert row.models and row.pairing, row
        assert set(row.reports) <= set(TYPE_CAPABILITIES[row.device_type]), row
        assert set(row.reports) <= set(CAPABILITIES), row
        assert primary_capabilities(row.device_type) & set(row.reports), row


def test_every_family_of_the_tables_is_listed() -> None:
    listed = " ".join(" ".join(row.models) for row in SUPPORTED)
    for model in XIAOMI_MODELS:
        assert f"{model} (" in listed, model
    for profile in PROFILES.values():
        assert profile.service_uuid in listed
    bthome_types = {row.device_type for row in SUPPORTED if row.vendor == "BTHome v2"}
    assert {"call_button", "door", "motion", "leak", "smoke", "gas"} <= bthome_types
    xiaomi_types = {row.device_type for row in SUPPORTED if "MiBeacon" in row.vendor}
    assert {"door", "motion", "leak", "call_button"} <= xiaomi_types
    door = next(row for row in SUPPORTED if "MCCGQ02HL (Door and Window Sensor 2)" in row.models)
    assert door.reports == ("contact", "battery") and "bindkey" in door.pairing
