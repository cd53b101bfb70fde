"""The systemd unit (systemd-analyze verify + security) and scripts/install's option checks."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import REPO

UNIT = REPO / "systemd" / "fbgw.service"
INSTALL = REPO / "scripts" / "install"
UNIT_EXEC = "/opt/fbgw/current/bin/fbgw"
UNIT_GUARD = "/usr/lib/fbgw/boot-guard"


def unit_values() -> dict[str, list[str]]:
    """Every key of the unit with all its values (systemd keys may repeat)."""
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} missing: ./scripts/setup installs Debian's systemd package"
    return path


@pytest.mark.timeout(60)
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point it at this checkout's fbgw; change nothing else.
    fbgw = Path(sys.executable).with_name("fbgw")
    assert fbgw.exists()
    text = UNIT.read_text()
    assert text.count(UNIT_EXEC) == 1 and text.count(UNIT_GUARD) == 1
    (tmp_path / "fbgw.service").write_text(text.replace(UNIT_EXEC, str(fbgw)).replace(UNIT_GUARD, sys.executable))
    res = subprocess.run(
        [need("systemd-analyze"), "verify", "--man=no", str(tmp_path / "fbgw.service")],
        capture_output=True,
        text=True,
        timeout=50,
    )
    # Any output (unknown key, bad value, missing binary) is a failure: nothing benign to allow.
    assert res.returncode == 0 and res.stderr == "" and res.stdout == "", res.stderr + res.stdout


@pytest.mark.timeout(60)
def test_unit_verify_catches_mistakes(tmp_path: Path) -> None:
    """The verify test above can fail: a typo'd key is reported."""
    fbgw = Path(sys.executable).with_name("fbgw")
    broken = UNIT.read_text().replace(UNIT_EXEC, str(fbgw)).replace(UNIT_GUARD, sys.executable)
    broken = broken.replace("WatchdogSec=", "WatchdogSecs=")
    (tmp_path / "fbgw.service").write_text(broken)
    res = subprocess.run(
        [need("systemd-analyze"), "verify", "--man=no", str(tmp_path / "fbgw.service")],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert "Unknown key" in res.stderr


@pytest.mark.timeout(60)
def test_unit_hardening_exposure_is_low() -> None:
    res = subprocess.run(
        [need("systemd-analyze"), "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=50,
    )
    m = re.search(r"Overall exposure level for fbgw\.service: ([0-9.]+)", res.stdout)
    assert m, res.stdout[-2000:] + res.stderr
    assert float(m.group(1)) <= 2.5, res.stdout[-3000:]


def test_unit_contract() -> None:
    v = unit_values()
    assert v["Type"] == ["notify"] and v["NotifyAccess"] == ["main"]
    assert int(v["WatchdogSec"][0]) >= 30
    assert v["Restart"] == ["always"] and v["StartLimitIntervalSec"] == ["0"]
    assert v["User"] == ["fbgw"] and set(v["SupplementaryGroups"][0].split()) == {
        "dialout",
        "gpio",
        "bluetooth",
        "audio",  # /dev/snd/*: voice prompts
    }
    assert v["StateDirectory"] == ["fbgw"] and v["ConfigurationDirectory"] == ["fbgw"]
    assert v["ProtectSystem"] == ["strict"] and v["NoNewPrivileges"] == ["yes"]
    for key in (
        "ProtectHome",
        "PrivateTmp",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
    ):
        assert v[key] == ["yes"], key
    assert set(v["RestrictAddressFamilies"][0].split()) == {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
        "AF_BLUETOOTH",
    }
    assert v["DevicePolicy"] == ["closed"]
    allowed = {d.split()[0] for d in v["DeviceAllow"]}
    assert {"char-ttyUSB", "char-ttyACM", "char-gpiochip", "char-alsa"} <= allowed
    assert "char-alsa rw" in v["DeviceAllow"]  # aplay opens the PCM device read-write
    assert v["CapabilityBoundingSet"] == [""]
    # The gateway needs a few seconds to commit and close; systemd must wait longer than that, not forever.
    assert 10 <= int(v["TimeoutStopSec"][0]) <= 90
    assert "${STATE_DIRECTORY}" in v["ExecStart"][0] and "${CONFIGURATION_DIRECTORY}" in v["ExecStart"][0]
    # The update journal's boot guard runs before every start, from outside the slots, with the same paths.
    (pre,) = v["ExecStartPre"]
    assert pre.startswith(UNIT_GUARD + " ") and "${STATE_DIRECTORY}" in pre and "${CONFIGURATION_DIRECTORY}" in pre


# ------------------------------------------------------------------------------------------------ install


@pytest.fixture
def root(short_dir: Path) -> Iterator[Path]:
    r = short_dir / "root"
    r.mkdir()
    yield r


# scripts/install is a wrapper over the Debian package: installing, reinstalling, removing and purging through
# it is tested in tests/packaging/test_deb.py.


@pytest.mark.timeout(60)
def test_install_refuses_bad_options(root: Path) -> None:
    res = subprocess.run([str(INSTALL), "--root", str(root), "--purge"], capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "--purge only goes with --uninstall" in res.stderr
    res = subprocess.run([str(INSTALL), "--bogus"], capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "unknown option" in res.stderr
    assert not any(root.rglob("fbgw*"))
