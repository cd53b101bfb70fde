"""Real network faults between a running gateway (in a network namespace of its own) and a real Mosquitto.

Each test runs a scenario of :mod:`bench.netfaults` (which also prints them in ``bench``) and checks what the
platform received: every event answered 200 arrives, ``seq`` has no gaps, and the first of the events held
back by the fault to arrive is an alarm. The figures are printed (``pytest -s`` shows them). Longer variations
(a longer black hole, a slower link): ``./scripts/netfaults --hole 120 --rate 8000``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import netfaults


def _check(name: str, r: dict[str, Any]) -> None:
    print(f"\n{netfaults.summary({name: r})}")
    assert r["refused"] == 0, r
    assert r["lost"] == 0, r
    assert r["seq_gaps"] == [], r
    assert r["alarm_first"], f"first event after the heal was {r['first_after_heal']}"


async def test_black_hole_of_30s_is_noticed_by_keepalive_and_healed(tmp_path: Path) -> None:
    r = await netfaults.black_hole(tmp_path, hole_s=30.0)
    _check("black_hole", r)
    # MQTT keepalive: PINGREQ after one idle period, the connection given up one period later; the uplink
    # checks once a second.
    assert r["time_to_detect_s"] <= 2 * r["keepalive_s"] + 1.5, r
    # Reconnect attempts go on during the hole; one started just before the heal has lost its SYN and waits for
    # the kernel's retransmission (1 s, 3 s) or its connect timeout (5 s), then the alarm retry (0.5 s).
    assert r["heal_to_first_alarm_s"] <= 6.0, r


async def test_latency_300ms_jitter_and_loss(tmp_path: Path) -> None:
    r = await netfaults.lossy(tmp_path, alarms=20, hole_s=6.0)
    _check("lossy", r)
    assert r["stalls"] > 0, "the proxy never stalled a chunk: no loss was simulated"
    # One way is 300 ms ± 100 ms; a stalled chunk adds 1 s, and may hold a couple of alarms behind it.
    assert 0.2 <= r["alarm_latency_p50_s"] <= 1.0, r
    assert r["alarm_latency_max_s"] <= 3.5, r
    # As for the black hole, plus the TCP and MQTT handshakes over a 0.6 s round trip; the status announcement
    # and the subscriptions no longer come before the alarm (they cost ~3 s more here).
    assert r["heal_to_first_alarm_s"] <= 8.0, r
    # Once the session is up, the alarm is the first thing sent: one way (≤ 0.4 s), maybe a stall (1 s). Before
    # the lanes started ahead of the status message and subscriptions, this took ~3 s (five round trips).
    assert r["online_to_first_alarm_s"] <= 2.0, r


async def test_slow_broker_link_alarm_overtakes_the_backlog(tmp_path: Path) -> None:
    r = await netfaults.slow(tmp_path, rate=32_000, backlog=1500, hole_s=6.0)
    _check("slow", r)
    # The backlog went into the dead connection before the alarm did: only aborting that connection (a reset,
    # so the kernel drops what it holds) lets the alarm go first when the link returns.
    assert r["stall_aborts"] >= 1, r
    assert r["heal_to_first_alarm_s"] <= 6.5, r
    # The alarm raised mid-drain waits only for what is already in the socket, not for the rest of the backlog.
    assert r["mid_drain_alarm_latency_s"] < r["drain_after_mid_alarm_s"] / 2, r


async def test_broker_moves_to_another_address(tmp_path: Path) -> None:
    r = await netfaults.moved(tmp_path)
    _check("moved", r)
    # The old connection is half-open (its address is gone): found by the PUBACK timeout (5 s here) and
    # TCP_USER_TIMEOUT, not after a further wait for a clean DISCONNECT; the new address is tried once the
    # name points there.
    assert r["time_to_detect_s"] <= 5.0 + 2.0, r  # the PUBACK timeout, +1 s checks, +1 s polling; was ~10 s
    assert r["move_to_first_alarm_s"] <= 9.0, r
