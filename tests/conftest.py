"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.broker import Mosquitto


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    """A real Mosquitto on a free 127.0.0.1 port, for one test."""
    b = Mosquitto()
    b.start()
    try:
        yield b
    finally:
        b.close()
