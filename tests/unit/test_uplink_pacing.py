"""The uplink's pacing of ordinary events: the budget follows how fast PUBACKs come back."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.uplink_pacing import FLOOR_BYTES, START_BYTES, Pacer


def test_fast_acknowledgements_grow_the_budget_to_the_ceiling() -> None:
    pacer = Pacer(ceiling_bytes=1_000_000, target_s=1.0)
    assert pacer.stats.budget_bytes == START_BYTES
    for _ in range(100):
        pacer.stats.in_flight_bytes += 20_000
        pacer.acked(20_000, time.monotonic())
    assert pacer.stats.budget_bytes == 1_000_000
    assert pacer.stats.in_flight_bytes == 0


def test_a_slow_acknowledgement_shrinks_the_budget_in_proportion_once_per_round() -> None:
    pacer = Pacer(ceiling_bytes=1_000_000, target_s=1.0)
    pacer.stats.budget_bytes = 400_000
    now = time.monotonic()
    pacer.acked(1000, now - 0.01)  # the round trip with nothing queued: 10 ms
    assert pacer.stats.budget_bytes == 401_000
    # Sent 4 s ago, allowed 1.01 s: the budget shrinks to about a quarter.
    pacer.acked(1000, now - 4.0)
    assert 95_000 <= pacer.stats.budget_bytes <= 105_000
    assert pacer.stats.shrinks == 1
    # Another batch sent before that shrink was sized under the old budget: no second cut.
    pacer.acked(1000, now - 3.9)
    assert pacer.stats.shrinks == 1
    assert 95_000 <= pacer.stats.budget_bytes <= 105_000


def test_the_budget_never_goes_below_the_floor_and_batches_are_half_of_it() -> None:
    pacer = Pacer(ceiling_bytes=1_000_000, target_s=1.0)
    now = time.monotonic()
    pacer.acked(100, now - 0.001)
    pacer.acked(100, now - 500.0)
    assert pacer.stats.budget_bytes == FLOOR_BYTES
    assert pacer.batch_bytes(256 * 1024) == FLOOR_BYTES
    pacer.stats.budget_bytes = 64 * 1024
    assert pacer.batch_bytes(256 * 1024) == 32 * 1024
    assert pacer.batch_bytes(8 * 1024) == 8 * 1024  # the configured batch, when smaller


async def test_reserve_waits_for_room_but_always_admits_one_batch() -> None:
    pacer = Pacer(ceiling_bytes=1_000_000, target_s=1.0)
    pacer.stats.budget_bytes = 10_000
    await asyncio.wait_for(pacer.reserve(50_000), 1)  # larger than the budget, but nothing is in flight
    second = asyncio.ensure_future(pacer.reserve(1_000))
    await asyncio.sleep(0.05)
    assert not second.done()
    pacer.release(50_000)
    await asyncio.wait_for(second, 1)
    assert pacer.stats.in_flight_bytes == 1_000


@pytest.mark.parametrize("ceiling", [1, FLOOR_BYTES, 2 * START_BYTES])
def test_the_start_budget_respects_a_small_ceiling(ceiling: int) -> None:
    pacer = Pacer(ceiling_bytes=ceiling)
    assert FLOOR_BYTES <= pacer.stats.budget_bytes <= max(FLOOR_BYTES, START_BYTES)
