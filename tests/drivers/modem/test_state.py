"""What ModemManager's properties mean: ready or why not, SIM, registration, technology (no D-Bus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.base import DriverConfigError, DriverContext
from drivers.modem import create_driver as create_modem
from drivers.modem import mm, state
from drivers.rf433 import create_driver as create_rf433
from gateway.registry import DeviceRegistry
from tests.drivers.ble.fakes import FakeSink


def props(modem: dict[str, Any] | None = None, reg: int | None = 1) -> dict[str, dict[str, Any]]:
    base = {"State": 8, "StateFailedReason": 0, "UnlockRequired": 1, "Sim": "/org/freedesktop/ModemManager1/SIM/0"}
    out: dict[str, dict[str, Any]] = {mm.MODEM: {**base, **(modem or {})}}
    if reg is not None:
        out[mm.MODEM_3GPP] = {"RegistrationState": reg}
    return out


@pytest.mark.parametrize(
    ("modem", "reg", "reason", "sim"),
    [
        ({}, 1, "", "ok"),
        ({}, 5, "", "ok"),
        ({}, 7, "", "ok"),  # roaming, SMS only: SMS still go out
        ({"State": -1, "StateFailedReason": 2, "Sim": "/"}, 4, "sim_missing", "missing"),
        ({"State": -1, "StateFailedReason": 3}, 4, "sim_error", "error"),
        ({"State": -1, "StateFailedReason": 1}, 4, "modem_failed", "ok"),
        ({"State": 2, "UnlockRequired": 2}, 0, "sim_locked", "locked:sim-pin"),
        ({"UnlockRequired": 4}, 1, "sim_locked", "locked:sim-puk"),
        ({"Sim": "/"}, 1, "sim_missing", "missing"),
        ({}, 3, "not_registered", "ok"),
        ({}, 2, "not_registered", "ok"),
        ({}, 0, "not_registered", "ok"),
        ({"State": 8}, None, "", "ok"),  # no 3GPP interface: the modem state says registered
        ({"State": 6}, None, "not_registered", "ok"),
    ],
)
def test_not_ready_and_sim(modem: dict[str, Any], reg: int | None, reason: str, sim: str) -> None:
    p = props(modem, reg)
    assert state.not_ready(p) == reason
    assert state.sim_state(p) == sim


def test_no_modem() -> None:
    assert state.not_ready(None) == "no_modem"
    h = state.health(None, {}, None, {"sms_sent": 2})
    assert (h.present, h.ready, h.not_ready, h.counters) == (False, False, "no_modem", {"sms_sent": 2})


def test_health_fields() -> None:
    p = props({"AccessTechnologies": (1 << 14) | (1 << 5), "SignalQuality": [42, True], "Model": "EC25"}, 5)
    h = state.health(p, {"OperatorName": "CMCC"}, None, {})
    assert (h.ready, h.registration, h.roaming, h.technology, h.signal_pct, h.operator, h.model) == (
        True,
        "roaming",
        True,
        "lte",
        42,
        "CMCC",
        "EC25",
    )


@pytest.mark.parametrize(("mask", "name"), [(0, ""), (1 << 1, "gsm"), ((1 << 1) | (1 << 5), "umts"), (1 << 15, "5gnr")])
def test_technology(mask: int, name: str) -> None:
    assert mm.technology(mask) == name


def test_bad_sections_are_config_errors(tmp_path: Path) -> None:
    ctx = DriverContext("gw", tmp_path, FakeSink(), DeviceRegistry(tmp_path / "r.json"))
    with pytest.raises(DriverConfigError, match=r"drivers\.modem"):
        create_modem({"send_timeout_s": 0}, ctx)
    with pytest.raises(DriverConfigError, match=r"drivers\.modem"):
        create_modem({"bogus": 1}, ctx)
    with pytest.raises(DriverConfigError, match=r"drivers\.rf433"):
        create_rf433({"enabled": True}, ctx)  # no port
    with pytest.raises(DriverConfigError, match=r"drivers\.rf433"):
        create_rf433({"port": "/dev/ttyS0", "burst_gap_ms": 5}, ctx)
