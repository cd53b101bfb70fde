"""The fence of ARCHITECTURE.md: import-linter's contracts and ruff's SLF001 hold on the tree, and each catches a
violation planted in a copy of it (so a contract that cannot fail would be seen)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PACKAGES = ("core", "drivers", "gateway", "sims")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the copy, not the installed tree
    return subprocess.run(
        [str(BIN / "lint-imports"), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("tree")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_the_tree_keeps_every_contract() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


PLANTS = [
    # (file, line planted at the end, the contract that must break)
    ("core/vocabulary.py", "from gateway import registry as _r  # noqa", "core imports nothing of ours"),
    (
        "drivers/gpio/lines.py",
        "if TYPE_CHECKING:\n    from gateway.outbox import Outbox  # noqa",
        "drivers import core and drivers.base, never gateway or sims",
    ),
    ("gateway/discovery.py", "from gateway.alarms import service as _s  # noqa", "a service never imports another"),
    ("gateway/health/heartbeat.py", "from gateway import app as _app  # noqa", "only gateway.app and gateway.services"),
    ("gateway/uplink.py", "from gateway.web import service as _w  # noqa", "the pipeline (intake, rules"),
    ("gateway/intake.py", "import sims.znp  # noqa", "never import the simulators"),
]


@pytest.mark.parametrize(("path", "line", "contract"), PLANTS, ids=[p[0] for p in PLANTS])
def test_a_planted_violation_is_caught(tree: Path, path: str, line: str, contract: str) -> None:
    target = tree / path
    original = target.read_text()
    header = "from typing import TYPE_CHECKING\n" if "TYPE_CHECKING" in line else ""
    target.write_text(original + "\n" + header + line + "\n")
    try:
        result = _lint_imports(tree)
    finally:
        target.write_text(original)
    assert result.returncode != 0, f"planted {line!r} in {path} was not caught"
    broken = result.stdout[result.stdout.find("Broken contracts") :]
    assert contract in " ".join(broken.split()), result.stdout[-3000:]


def test_slf001_catches_private_access_in_product_code(tmp_path: Path) -> None:
    planted = tmp_path / "gateway" / "peek.py"
    planted.parent.mkdir()
    planted.write_text('"""Planted."""\n\n\ndef peek(outbox: object) -> object:\n    return outbox._writer\n')
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", "--select", "SLF001", str(planted)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "SLF001" in result.stdout, result.stdout
