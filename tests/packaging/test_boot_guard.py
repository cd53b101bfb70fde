"""The update journal's boot guard on its own: what each phase left by a kill means at the next start, start
counting once per systemd invocation, and that the copy the unit runs needs nothing but the standard library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.settings.remote import RemoteSettings
from gateway.slots import guard
from gateway.slots import state as update_state
from gateway.slots.layout import Layout


@pytest.fixture
def box(tmp_path: Path) -> tuple[Path, Layout]:
    state = tmp_path / "state"
    state.mkdir()
    root = tmp_path / "opt"
    for s in ("a", "b"):
        (root / "slots" / s).mkdir(parents=True)
    layout = Layout(root)
    layout.switch("a")
    return state, layout


def journal(state: Path, phase: str, **extra: Any) -> None:
    st = {
        "command": "update-2.0.0-1",
        "from_slot": "a",
        "to_slot": "b",
        "from_version": "1.0.0",
        "to_version": "2.0.0",
        "phase": phase,
        **extra,
    }
    (state / guard.FILE).write_text(json.dumps(st))


def read(state: Path) -> dict[str, Any]:
    return json.loads((state / guard.FILE).read_text())


def test_defaults_match_the_settings() -> None:
    s = RemoteSettings()
    assert (str(s.update_root), s.update_max_boots) == (guard.DEFAULT_ROOT, guard.DEFAULT_MAX_BOOTS)


def test_no_journal_or_an_unreadable_one_changes_nothing(box: tuple[Path, Layout]) -> None:
    state, layout = box
    assert guard.check(state, layout.root, 3, None) == "none"
    (state / guard.FILE).write_text("{not json")
    assert guard.check(state, layout.root, 3, None) == "none"
    assert layout.current() == "a"


@pytest.mark.parametrize("phase", guard.PRE_SWITCH)
def test_interrupted_before_the_switch_fails_and_keeps_the_old_slot(box: tuple[Path, Layout], phase: str) -> None:
    state, layout = box
    journal(state, phase)
    assert guard.check(state, layout.root, 3, None) == "failed"
    st = read(state)
    assert st["phase"] == "failed" and st["reason"] == f"interrupted while {phase}" and st["reported"] is False
    assert layout.current() == "a"
    assert update_state.load(state) is not None  # the service can read what the guard wrote


def test_killed_between_switch_and_journal_is_on_trial(box: tuple[Path, Layout]) -> None:
    state, layout = box
    journal(state, "installed")
    layout.switch("b")
    assert guard.check(state, layout.root, 3, None) == "trial"
    assert read(state)["phase"] == "switched" and read(state)["boots"] == 1


def test_a_start_is_counted_once_per_invocation_and_a_crash_loop_rolls_back(box: tuple[Path, Layout]) -> None:
    state, layout = box
    journal(state, "switched")
    layout.switch("b")
    assert guard.check(state, layout.root, 2, "inv-1") == "trial"
    assert guard.check(state, layout.root, 2, "inv-1") == "trial"  # fbgw run after ExecStartPre: same start
    assert read(state)["boots"] == 1
    assert guard.check(state, layout.root, 2, "inv-2") == "trial"
    assert read(state)["boots"] == 2 and layout.current() == "b"
    assert guard.check(state, layout.root, 2, "inv-3") == "rolled_back"
    st = read(state)
    assert st["phase"] == "rolled_back" and st["reason"] == "crash loop (2 starts)" and st["reported"] is False
    assert layout.current() == "a"
    assert guard.check(state, layout.root, 2, "inv-4") == "none"


def test_an_interrupted_rollback_is_finished(box: tuple[Path, Layout]) -> None:
    state, layout = box
    journal(state, "rolling_back", reason="health check: uplink not online")
    layout.switch("b")
    assert guard.check(state, layout.root, 3, None) == "rolled_back"
    assert layout.current() == "a" and read(state)["phase"] == "rolled_back"
    assert read(state)["reason"] == "health check: uplink not online"


@pytest.mark.parametrize("phase", ["committed", "rolled_back", "failed"])
def test_finished_updates_are_left_alone(box: tuple[Path, Layout], phase: str) -> None:
    state, layout = box
    journal(state, phase)
    layout.switch("b" if phase == "committed" else "a")
    before = read(state)
    assert guard.check(state, layout.root, 3, None) == "none"
    assert read(state) == before


def test_the_installed_copy_runs_with_the_standard_library_only(box: tuple[Path, Layout], tmp_path: Path) -> None:
    """What scripts/package installs as /usr/lib/fbgw/boot-guard: this file alone, run isolated (-I) from a
    directory without our packages; it reads the config for the slots root and max boots."""
    state, layout = box
    copy = tmp_path / "boot-guard"
    copy.write_text(Path(guard.__file__).read_text())
    cfg = tmp_path / "fbgw.toml"
    cfg.write_text(f'[gateway]\nid = "gw"\n[remote]\nupdate_root = "{layout.root}"\nupdate_max_boots = 1\n')
    journal(state, "restarting", boots=1)
    layout.switch("b")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"INVOCATION_ID": "x"}
    res = subprocess.run(
        [sys.executable, "-I", str(copy), "--config", str(cfg), "--state-dir", str(state)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    assert "rolled_back" in res.stderr and layout.current() == "a"
    assert read(state)["reason"] == "crash loop (1 starts)"
    # A config it cannot read: defaults, exit 0 (the gateway must start anyway).
    res = subprocess.run(
        [sys.executable, "-I", str(copy), "--config", str(tmp_path / "missing.toml"), "--state-dir", str(state)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=30,
    )
    assert res.returncode == 0 and "missing.toml" in res.stderr


def test_kill_point_kills_only_at_its_phase(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from gateway.slots import guard;"
        "guard.write_journal(Path(sys.argv[1]), {'phase': 'verified'}); print('alive', flush=True);"
        "guard.write_journal(Path(sys.argv[1]), {'phase': 'installed'}); print('not reached')"
    )
    env = os.environ | {guard.KILL_AT_ENV: "installed"}
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)
    assert res.returncode == -9 and res.stdout == "alive\n"
    assert read(tmp_path)["phase"] == "installed"  # durably written before the kill
