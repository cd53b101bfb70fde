"""The built wheel carries what the gateway reads at run time, and a gateway installed from it (not editable, not
run from this checkout) checks its config, loads a county profile and runs against a real Mosquitto."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.packaging.build import RUNTIME_DATA, build_wheel, venv_with_wheel
from tests.support.broker import Mosquitto, free_port
from tests.support.gateway import SIM_HOME, config_dict, write_toml


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def fbgw(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return venv_with_wheel(tmp_path_factory.mktemp("venv") / "v", wheel)


@pytest.mark.timeout(240)
def test_wheel_carries_runtime_data_and_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = z.read(meta).decode()
    missing = [f for f in RUNTIME_DATA if f not in names]
    assert not missing, missing
    assert any(n.endswith(".data/data/share/fbgw/schema/event.schema.json") for n in names)
    assert "License-Expression: GPL-3.0-or-later" in metadata
    for dep in ("paho-mqtt", "habluetooth", "dbus-fast"):
        assert f"Requires-Dist: {dep}" in metadata, dep
    assert "Requires-Dist: aiomqtt<3,>=2.3" in metadata or "Requires-Dist: aiomqtt>=2.3,<3" in metadata


def run(fbgw: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(fbgw), *args], capture_output=True, text=True, timeout=60, cwd=cwd)


@pytest.mark.timeout(240)
def test_installed_wheel_checks_configs_with_county_profiles(fbgw: Path, tmp_path: Path) -> None:
    version = run(fbgw, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("fbgw "), version.stderr
    where = subprocess.run(
        [str(fbgw.with_name("python")), "-c", "import gateway.web.acceptance as a; print(a.__file__)"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert str(fbgw.parents[1]) in where.stdout, where.stdout + where.stderr  # the wheel's copy, not the checkout
    for county in ("youxi", "gaotai"):
        cfg = write_toml(
            tmp_path / f"{county}.toml", config_dict(tmp_path / "state", "mqtt://127.0.0.1:1", web={"county": county})
        )
        res = run(fbgw, "check-config", "--config", str(cfg), cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert f"county profile: {county}" in res.stdout
    # The check can fail: a county nobody shipped, and a config with an unknown key.
    bad = write_toml(
        tmp_path / "bad.toml", config_dict(tmp_path / "state", "mqtt://127.0.0.1:1", web={"county": "nowhere"})
    )
    res = run(fbgw, "check-config", "--config", str(bad), cwd=tmp_path)
    assert res.returncode == 2 and "nowhere.toml" in res.stderr
    typo = tmp_path / "typo.toml"
    typo.write_text(bad.read_text() + "\n[bogus]\nx = 1\n")
    assert run(fbgw, "check-config", "--config", str(typo), cwd=tmp_path).returncode == 2


@pytest.mark.timeout(240)
def test_installed_wheel_runs_the_gateway(fbgw: Path, tmp_path: Path, broker: Mosquitto) -> None:
    port = free_port()
    cfg = write_toml(tmp_path / "gw.toml", config_dict(tmp_path / "state", broker.url, web={"county": "gaotai"}))
    log = tmp_path / "gw.log"
    proc = subprocess.Popen(
        [str(fbgw), "run", "--config", str(cfg), "--http", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1) as r:
                    status = json.loads(r.read())
                if status.get("uplink", {}).get("state") == "online":
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert status is not None, log.read_text()[-3000:]
        assert status["uplink"]["state"] == "online", status
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/devices", timeout=5) as r:
            devices = json.loads(r.read())["devices"]
        assert {d["id"] for d in devices} >= {d["id"] for d in SIM_HOME}
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(20)
    assert rc == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
