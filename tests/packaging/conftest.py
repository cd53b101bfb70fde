"""Debian packages built once per test session (the dependency venv is cached between the builds)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.support.gateway import REPO

#: Source edits for a deliberately broken build: {relative path: (text, replacement)}.
Patches = Mapping[str, tuple[str, str]]
BuildDeb = Callable[..., Path]


@pytest.fixture(scope="session")
def build_deb(tmp_path_factory: pytest.TempPathFactory) -> BuildDeb:
    """``build_deb(version=None, patches=None)`` -> the .deb made by ``scripts/package`` (None: the tree's
    version); with ``patches``, from a copy of the tree with those edits. Memoised per version."""
    cache = tmp_path_factory.mktemp("pkg-cache")
    out = tmp_path_factory.mktemp("debs")
    built: dict[str | None, Path] = {}

    def build(version: str | None = None, patches: Patches | None = None) -> Path:
        if version in built:
            return built[version]
        tree = REPO
        if patches:
            tree = out / f"src-{version}"
            shutil.copytree(REPO, tree, ignore=shutil.ignore_patterns(".venv", ".git", "build", "node_modules"))
            for rel, (old, new) in patches.items():
                text = (tree / rel).read_text()
                assert old in text, (rel, old)
                (tree / rel).write_text(text.replace(old, new))
        args = [str(tree / "scripts" / "package"), "--out", str(out / (version or "tree")), "--cache", str(cache)]
        if version:
            args += ["--version", version]
        res = subprocess.run(args, capture_output=True, text=True, timeout=400)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        built[version] = Path(res.stdout.strip().splitlines()[-1])
        return built[version]

    return build
