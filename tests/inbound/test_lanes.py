"""Inbound lanes: bounded per topic, rate-limited, acks first; every drop is counted, nothing is logged per drop."""

from __future__ import annotations

import asyncio
import logging

import aiomqtt
import pytest

from gateway.mqtt_inbound import InboundLanes, InboundLimits, TokenBucket, lane_queue

BASE = "fbgw/v1/gw-test"


def msg(topic: str, payload: bytes = b"{}") -> aiomqtt.Message:
    return aiomqtt.Message(f"{BASE}/{topic}", payload, 1, False, 1, None)


def lanes(**limits: float) -> InboundLanes:
    out = InboundLanes(InboundLimits(**limits))  # type: ignore[arg-type]
    out.add(f"{BASE}/cmd", "cmd")
    out.add(f"{BASE}/config/desired", "config/desired")
    out.add(f"{BASE}/alarms/ack", "alarms/ack", first=True)
    return out


def test_a_flood_is_bounded_and_counted_per_topic() -> None:
    ln = lanes(queue_messages=10, rate_per_s=1e9, burst=10**9)
    for _ in range(50_000):
        ln.offer(msg("cmd"))
    assert len(ln) == 10
    c = ln.counters()["cmd"]
    assert c["received"] == 50_000 and c["queue_full"] == 49_990
    assert ln.dropped() == {"cmd": 49_990, "config/desired": 0, "alarms/ack": 0}


def test_bytes_bound_but_one_message_always_fits() -> None:
    ln = lanes(queue_bytes=2048, max_bytes=100_000, rate_per_s=1e9, burst=10**9)
    ln.offer(msg("config/desired", b"x" * 50_000))  # larger than the byte bound: fits an empty lane
    ln.offer(msg("config/desired", b"y"))
    assert len(ln) == 1 and ln.counters()["config/desired"]["queue_full"] == 1
    ln.offer(msg("config/desired", b"z" * 100_001))
    assert ln.counters()["config/desired"]["too_large"] == 1


def test_rate_limit_drops_the_excess_before_any_handler() -> None:
    now = [0.0]
    ln = lanes(queue_messages=10_000, rate_per_s=10, burst=5)
    bucket = TokenBucket(10, 5, clock=lambda: now[0])
    assert sum(bucket.take() for _ in range(100)) == 5
    now[0] += 1.0
    assert sum(bucket.take() for _ in range(100)) == 5  # refilled to the burst, not to 10
    now[0] += 0.3
    assert sum(bucket.take() for _ in range(100)) == 3
    for _ in range(1000):
        ln.offer(msg("alarms/ack", b"{nope"))
    c = ln.counters()["alarms/ack"]
    assert c["rate_limited"] >= 990 and len(ln) == c["received"] - c["rate_limited"]


def test_acks_go_first_and_other_topics_take_turns() -> None:
    ln = lanes(queue_messages=100, rate_per_s=1e9, burst=10**9)
    for i in range(5):
        ln.offer(msg("cmd", b"c%d" % i))
        ln.offer(msg("config/desired", b"d%d" % i))
    ln.offer(msg("alarms/ack", b"ack"))
    order = [ln.take().payload for _ in range(len(ln))]
    assert order[0] == b"ack"
    assert order[1:5] == [b"c0", b"d0", b"c1", b"d1"]
    with pytest.raises(IndexError):
        ln.take()


def test_messages_before_their_subscription_are_held_bounded_then_delivered() -> None:
    ln = InboundLanes(InboundLimits(queue_messages=5, rate_per_s=1e9, burst=10**9))
    for i in range(8):  # the broker delivers a persistent session's queue before the services subscribe
        ln.offer(msg("cmd", b"%d" % i))
    for i in range(20):
        ln.offer(msg(f"t{i}"))  # more topics than are held
    assert len(ln) == 0  # nothing to take yet
    assert ln.dropped() == {"other": 3 + 20 - 15}  # 3 over the per-topic bound; 16 topics held at most
    ln.add(f"{BASE}/cmd", "cmd")
    assert [ln.take().payload for _ in range(len(ln))] == [b"0", b"1", b"2", b"3", b"4"]
    assert ln.counters()["cmd"]["received"] == 5


async def test_held_messages_wake_the_consumer_when_their_subscription_arrives() -> None:
    ln = InboundLanes(InboundLimits(rate_per_s=1e9, burst=10**9))
    queue = lane_queue(ln)(maxsize=0)
    queue.put_nowait(msg("alarms/ack", b"early ack"))
    waiter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    ln.add(f"{BASE}/alarms/ack", "alarms/ack", first=True)
    assert (await asyncio.wait_for(waiter, 1)).payload == b"early ack"


async def test_the_client_queue_never_reports_full_so_nothing_is_logged_per_drop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ln = lanes(queue_messages=3, rate_per_s=1e9, burst=10**9)
    queue = lane_queue(ln)(maxsize=0)
    caplog.set_level(logging.DEBUG)
    for i in range(1000):
        queue.put_nowait(msg("cmd", b"%d" % i))  # what aiomqtt's on_message does
    assert queue.qsize() == 3 and not queue.full()
    got = [await asyncio.wait_for(queue.get(), 1) for _ in range(3)]
    assert [m.payload for m in got] == [b"0", b"1", b"2"]
    assert queue.empty()
    waiter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait(msg("alarms/ack", b"late"))
    assert (await asyncio.wait_for(waiter, 1)).payload == b"late"
    assert not caplog.records
