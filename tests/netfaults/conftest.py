"""Network-fault tests need root (network namespaces, veth pairs): skipped on a developer's machine, failing in CI."""

from __future__ import annotations

import pytest

from tests.support import require_root


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root("network namespaces and veth pairs")
