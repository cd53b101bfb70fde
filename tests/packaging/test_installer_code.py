"""``fbgw installer-code --reset`` prints a new code once; only its hash is stored, readable by the service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.web.signin_code import CODE_FILE, verify_code
from tests.support.gateway import config_dict, write_toml


def test_reset_prints_a_code_whose_hash_is_stored(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    cfg = write_toml(tmp_path / "gw.toml", config_dict(state, "mqtt://127.0.0.1:1"))
    fbgw = [sys.executable, "-m", "gateway.cli", "installer-code"]
    res = subprocess.run([*fbgw, "--reset", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    if os.geteuid() != 0:
        assert res.returncode == 2 and "root" in res.stderr
        return
    assert res.returncode == 0, res.stderr
    code = res.stdout.strip()
    assert code.isdigit() and len(code) == 8
    stored = (state / CODE_FILE).read_text().strip()
    assert code not in stored and verify_code(code, stored) and not verify_code("00000000", stored)
    assert (state / CODE_FILE).stat().st_mode & 0o777 == 0o600
    again = subprocess.run([*fbgw, "--reset", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() != code and not verify_code(code, (state / CODE_FILE).read_text().strip())
    assert subprocess.run([*fbgw, "--config", str(cfg)], capture_output=True, timeout=60).returncode == 2
