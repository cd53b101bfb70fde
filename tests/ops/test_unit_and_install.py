"""The systemd unit (systemd-analyze verify + security) and scripts/install (into a temp root, twice)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import load_config
from tests.support import require_root
from tests.support.gateway import REPO

UNIT = REPO / "systemd" / "fbgw.service"
INSTALL = REPO / "scripts" / "install"
UNIT_EXEC = "/opt/fbgw/venv/bin/fbgw"


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
    assert text.count(UNIT_EXEC) == 1
    (tmp_path / "fbgw.service").write_text(text.replace(UNIT_EXEC, str(fbgw)))
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
    broken = UNIT.read_text().replace(UNIT_EXEC, str(fbgw)).replace("WatchdogSec=", "WatchdogSecs=")
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


# ------------------------------------------------------------------------------------------------ install


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    (whl,) = out.glob("fbgw-*.whl")
    return whl


@pytest.fixture
def root(short_dir: Path) -> Iterator[Path]:
    r = short_dir / "root"
    r.mkdir()
    (r / "etc").mkdir()
    (r / "etc" / "hostname").write_text("pi-home-0042\n")
    yield r


def run_install(root: Path, *args: str, source: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [str(INSTALL), "--root", str(root), *args]
    if source is not None:
        cmd += ["--source", str(source)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd="/")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def snapshot(root: Path) -> dict[str, tuple[int, int, int, bytes | None]]:
    """Every file outside the venv: owner, group, mode and content."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith("opt/fbgw/venv") or rel.endswith("-") or rel == "etc/.pwd.lock":
            continue
        st = p.lstat()
        out[rel] = (st.st_uid, st.st_gid, st.st_mode, p.read_bytes() if p.is_file() else None)
    return out


def passwd_entry(root: Path, name: str) -> list[str]:
    return [line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith(name + ":")]


def members(root: Path, group: str) -> list[str]:
    for line in (root / "etc/group").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == group:
            return [m for m in parts[3].split(",") if m]
    return []


@pytest.mark.timeout(300)
def test_install_twice_uninstall_keeps_data_purge_removes(root: Path, wheel: Path) -> None:
    require_root("scripts/install chowns into the staged root")
    run_install(root, "--gateway-id", "gw-pi-1", source=wheel)

    (fbgw_user,) = passwd_entry(root, "fbgw")
    uid, gid = int(fbgw_user.split(":")[2]), int(fbgw_user.split(":")[3])
    assert fbgw_user.endswith(":/var/lib/fbgw:/usr/sbin/nologin")
    for group in ("dialout", "gpio", "bluetooth", "audio"):
        assert members(root, group) == ["fbgw"], group
    cfg_path = root / "etc/fbgw/fbgw.toml"
    st = cfg_path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, gid, 0o640)
    state = root / "var/lib/fbgw"
    assert (state.stat().st_uid, state.stat().st_mode & 0o777) == (uid, 0o700)
    cfg = load_config(cfg_path)
    assert cfg.gateway.id == "gw-pi-1" and str(cfg.gateway.state_dir) == "/var/lib/fbgw"
    unit = root / "etc/systemd/system/fbgw.service"
    assert unit.read_text() == UNIT.read_text()
    wants = root / "etc/systemd/system/multi-user.target.wants/fbgw.service"
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/fbgw.service"
    venv_fbgw = root / "opt/fbgw/venv/bin/fbgw"
    version = subprocess.run([str(venv_fbgw), "--version"], capture_output=True, text=True, timeout=30)
    assert version.stdout.strip() == "fbgw 0.1.0", version.stderr

    # The technician edits the config and the gateway stores data; a second install changes neither.
    cfg_path.write_text(cfg_path.read_text().replace('"gw-pi-1"', '"gw-pi-renamed"'))
    (state / "outbox.sqlite3").write_bytes(b"precious")
    before = snapshot(root)
    run_install(root, "--gateway-id", "ignored-now", source=wheel)
    assert snapshot(root) == before
    assert len(passwd_entry(root, "fbgw")) == 1

    res = run_install(root, "--uninstall")
    assert "kept" in res.stdout
    assert not (root / "opt/fbgw").exists() and not unit.exists() and not wants.exists()
    assert (state / "outbox.sqlite3").read_bytes() == b"precious"
    assert "gw-pi-renamed" in cfg_path.read_text() and passwd_entry(root, "fbgw")

    run_install(root, "--uninstall", "--purge")
    assert not state.exists() and not (root / "etc/fbgw").exists() and passwd_entry(root, "fbgw") == []


@pytest.mark.timeout(60)
def test_install_refuses_bad_options(root: Path) -> None:
    res = subprocess.run([str(INSTALL), "--root", str(root), "--purge"], capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "--purge only goes with --uninstall" in res.stderr
    res = subprocess.run([str(INSTALL), "--bogus"], capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "unknown option" in res.stderr
    assert not any(root.rglob("fbgw*"))
