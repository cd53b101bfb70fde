"""The ``[drivers.ble]`` section, and what each BLE device type can report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drivers.base import DriverConfigError

#: Capabilities a BLE device of each type may report (the registry's ``capabilities``). Every BTHome
#: device may send the generic objects (battery 0x01, battery low 0x15, problem 0x26 -> ``trouble``), so
#: every type a BTHome device can be adopted as lists them; ``heart_rate`` comes from GATT straps only.
TYPE_CAPABILITIES: Mapping[str, tuple[str, ...]] = {
    "call_button": ("press", "battery", "battery_low", "trouble"),
    "pull_cord": ("press", "battery", "battery_low", "tamper", "trouble"),
    "door": ("contact", "battery", "battery_low", "tamper", "trouble"),
    "motion": ("motion", "battery", "battery_low", "trouble"),
    "leak": ("leak", "battery", "battery_low", "trouble"),
    "smoke": ("smoke", "battery", "battery_low", "tamper", "trouble"),
    "gas": ("gas", "battery", "battery_low", "trouble"),
    "mattress": ("in_bed", "heart_rate", "breath_rate", "battery", "battery_low", "trouble"),
    "heart_rate": ("heart_rate", "battery"),
}

#: Capabilities any device may report besides what makes it its type (a device adopted as a call button
#: that only ever sends battery levels is deaf to what matters).
GENERIC_CAPABILITIES = frozenset({"battery", "battery_low", "tamper", "trouble"})


def primary_capabilities(device_type: str) -> frozenset[str]:
    """What a device of this type must be able to report to be of any use (press, contact, motion...)."""
    return frozenset(TYPE_CAPABILITIES.get(device_type, ())) - GENERIC_CAPABILITIES


def type_problem(device_type: str, reports: Iterable[str], what: str) -> str | None:
    """Why ``what`` (reporting ``reports``) cannot be adopted as ``device_type``; None when it can."""
    reported = set(reports)
    if primary_capabilities(device_type) & reported:
        return None
    said = ", ".join(sorted(reported)) or "nothing the gateway uses"
    wanted = ", ".join(sorted(primary_capabilities(device_type)))
    return f"{what} reports {said}, never {wanted}: it cannot work as a {device_type}"


class BleSettings(BaseModel):
    """Settings of the BLE driver. Durations are seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: BlueZ adapter name.
    adapter: str = Field(default="hci0", pattern=r"^hci[0-9]{1,2}$")
    #: Passive scanning (BlueZ advertisement monitor) where the adapter allows; active otherwise.
    passive: bool = True
    #: An advertising device is offline after this many of its learned (median) advert intervals...
    offline_interval_multiple: float = Field(default=10, ge=2, le=1000)
    #: ...but never sooner than this.
    offline_min_s: float = Field(default=300, gt=0)
    #: Until an interval is learned (3 gaps seen), offline after this long without an advert.
    offline_unlearned_s: float = Field(default=3600, gt=0)
    #: Adverts closer together than this are one burst (a packet repeated), not an interval.
    advert_burst_s: float = Field(default=0.5, ge=0)
    #: How often silent devices are checked.
    availability_check_s: float = Field(default=5, gt=0)
    #: A GATT device whose connection dropped is reported offline if not back within this grace.
    gatt_offline_grace_s: float = Field(default=30, ge=0)
    #: GATT connect timeout, and reconnect backoff bounds.
    connect_timeout_s: float = Field(default=20, gt=0)
    reconnect_min_s: float = Field(default=1, gt=0)
    reconnect_max_s: float = Field(default=120, gt=0)
    #: Adapter (radio) retry backoff bounds after adapter loss.
    adapter_retry_min_s: float = Field(default=1, gt=0)
    adapter_retry_max_s: float = Field(default=60, gt=0)
    #: Unchanged battery levels are re-reported at most this often; vital signs at most this often.
    battery_every_s: float = Field(default=3600, ge=0)
    vitals_every_s: float = Field(default=10, ge=0)
    #: How long ``adopt`` waits for a valid packet from the device.
    adopt_timeout_s: float = Field(default=30, gt=0)


def parse_settings(section: Mapping[str, Any]) -> BleSettings:
    """Validate the raw TOML table; raises :class:`DriverConfigError` naming the bad key."""
    try:
        return BleSettings.model_validate(dict(section))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'section'}: {err['msg']}" for err in exc.errors()
        )
        raise DriverConfigError(f"drivers.ble: {problems}") from exc
