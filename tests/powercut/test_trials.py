"""Power cuts of a whole gateway under load (see :mod:`tests.powercut.trials`): a short series here, in the
default run; ``./scripts/powercut`` runs the long one (100 cuts by default)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.powercut.conftest import require_fuse
from tests.powercut.trials import run_trials


def seed() -> int:
    value = int(os.environ.get("FBGW_POWERCUT_SEED", random.randrange(1 << 30)))
    print(f"FBGW_POWERCUT_SEED={value}")  # shown on failure, to replay the same cuts
    return value


@pytest.mark.timeout(240)
async def test_ten_power_cuts_under_load_lose_nothing_acknowledged(tmp_path: Path) -> None:
    require_fuse()
    tally = await run_trials(10, tmp_path, seed())
    print(tally.summary())
    assert not tally.problems, tally.summary()
    assert tally.cuts == 10
    assert tally.accepted > 100, "the load barely ran; the trial would prove nothing"
    assert tally.events_checked == tally.accepted
    assert tally.config_pushes > 0


@pytest.mark.timeout(300)
async def test_power_cuts_with_torn_writes(tmp_path: Path) -> None:
    require_fuse()
    tally = await run_trials(5, tmp_path, seed(), torn=True)
    print(tally.summary())
    assert not tally.problems, tally.summary()
    assert tally.events_checked == tally.accepted > 50
