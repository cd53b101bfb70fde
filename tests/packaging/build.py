"""Build the product the way a county receives it: a wheel (optionally with another version string) and a venv
that runs it from site-packages, never from this checkout."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.support.gateway import REPO

#: Files that must be in every wheel: the gateway reads them at run time.
RUNTIME_DATA = (
    "gateway/web/counties/youxi.toml",
    "gateway/web/counties/gaotai.toml",
    "gateway/web/templates/layout.html",
    "gateway/web/static/app.js",
    "gateway/web/static/app.css",
)


def build_wheel(out: Path, version: str | None = None) -> Path:
    """``pip wheel`` of a copy of the source tree; ``version`` replaces ``__version__`` and the project version
    (two distinct builds for the update tests)."""
    src = out / "src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(".venv", ".git", "build", "var", "node_modules", "__pycache__", "*.egg-info"),
    )
    if version is not None:
        init = src / "gateway" / "__init__.py"
        init.write_text(re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', init.read_text()))
        pp = src / "pyproject.toml"
        pp.write_text(re.sub(r'(?m)^version = "[^"]*"', f'version = "{version}"', pp.read_text(), count=1))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        check=True,
        timeout=180,
        capture_output=True,
    )
    shutil.rmtree(src)
    (whl,) = out.glob("fbgw-*.whl")
    return whl


def venv_with_wheel(venv: Path, wheel: Path) -> Path:
    """A fresh venv with the wheel installed (not editable). Its third-party dependencies are borrowed from the
    test environment through a path entry (plain directory: the checkout's editable-install hook there is not
    run), so only fbgw's own files come from the wheel. Returns the venv's ``fbgw`` script."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    )
    (site / "zz-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    return venv / "bin" / "fbgw"
