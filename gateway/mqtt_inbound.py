"""Bounded lanes for messages from the broker: a flood costs bounded memory and CPU, and acks go first.

The MQTT client puts every message it receives into one queue; by default that queue is unbounded, so a burst
of 50,000 messages (or a persistent session that reconnects to thousands of queued commands) sits in memory
until the handlers get through it. :func:`lane_queue` gives the client a queue class that sorts each message
into a lane per subscribed topic instead, as it arrives:

- a lane holds at most ``inbound_queue_messages`` messages and ``inbound_queue_bytes`` bytes (one message always
  fits an empty lane); what does not fit is dropped and counted (``queue_full``);
- each lane takes at most ``inbound_rate_per_s`` messages a second (bursts of ``inbound_burst``); the excess is
  dropped and counted (``rate_limited``) before any handler parses it;
- payloads over ``inbound_max_bytes`` are dropped unread (``too_large``);
- lanes marked *first* (alarm acknowledgements) are always served before the others, which take turns, so no
  flood on one topic can starve another;
- messages for a topic nobody has subscribed to yet (the broker delivers a persistent session's queue before the
  services subscribe) are held within the same bounds and handed over when the subscription comes.

Every message has already been acknowledged to the broker (QoS 1 PUBACK) when it reaches a lane: a dropped
message is gone. Counters are per lane and are reported in ``gateway.heartbeat`` (``inbound_dropped``).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import aiomqtt

#: Counters of messages that matched no subscription when they arrived. They are held (bounded, per topic) until
#: a subscription for them is made: at start the broker delivers what it queued for the persistent session before
#: the services have subscribed. Held messages that never find a lane are dropped when more arrive.
OTHER = "other"
#: Topics held for at most at once.
_HELD_TOPICS = 16


@dataclass(frozen=True, slots=True)
class InboundLimits:
    """Sizes and rates of the inbound lanes (from ``[uplink]``)."""

    queue_messages: int = 64
    queue_bytes: int = 256 * 1024
    rate_per_s: float = 20.0
    burst: int = 100
    max_bytes: int = 1024 * 1024


@dataclass(slots=True)
class LaneCounters:
    received: int = 0
    handled: int = 0
    queue_full: int = 0
    rate_limited: int = 0
    too_large: int = 0

    @property
    def dropped(self) -> int:
        return self.queue_full + self.rate_limited + self.too_large


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class _Lane:
    def __init__(self, limits: InboundLimits, first: bool) -> None:
        self.first = first
        self.items: collections.deque[aiomqtt.Message] = collections.deque()
        self.bytes = 0
        self.bucket = TokenBucket(limits.rate_per_s, limits.burst)
        self.counters = LaneCounters()


def _size(message: aiomqtt.Message) -> int:
    payload = message.payload
    return len(payload) if isinstance(payload, bytes | bytearray | str) else 0


class InboundLanes:
    """The lanes of one uplink; they outlive a connection (messages already acknowledged are still handled)."""

    def __init__(self, limits: InboundLimits | None = None) -> None:
        self.limits = limits or InboundLimits()
        self._filters: list[tuple[str, str]] = []  # (topic filter, lane name)
        self._lanes: dict[str, _Lane] = {OTHER: _Lane(self.limits, first=False)}
        self._by_topic: dict[str, str] = {}
        self._turn: collections.deque[str] = collections.deque()
        self._count = 0
        self._held: dict[str, _Lane] = {}
        self._queue: asyncio.Queue[aiomqtt.Message] | None = None

    def add(self, topic_filter: str, name: str, *, first: bool = False) -> None:
        """A lane for messages matching ``topic_filter``; ``first``: served before all other lanes."""
        if name not in self._lanes:
            self._lanes[name] = _Lane(self.limits, first)
            self._turn.append(name)
        self._filters.append((topic_filter, name))
        self._by_topic.clear()
        for topic in [t for t in self._held if aiomqtt.Topic(t).matches(topic_filter)]:
            for message in self._held.pop(topic).items:
                if self._queue is not None:
                    self._queue.put_nowait(message)  # wakes the consumer
                else:
                    self.offer(message)

    def attach(self, queue: asyncio.Queue[aiomqtt.Message]) -> None:
        """The client queue now in use (held messages go through it when their subscription arrives)."""
        self._queue = queue

    def configure(self, limits: InboundLimits) -> None:
        """New sizes and rates; messages already waiting stay."""
        self.limits = limits
        for lane in self._lanes.values():
            lane.bucket = TokenBucket(limits.rate_per_s, limits.burst)

    def counters(self) -> dict[str, dict[str, int]]:
        return {name: asdict(lane.counters) for name, lane in self._shown()}

    def dropped(self) -> dict[str, int]:
        """Messages dropped unhandled, per lane."""
        return {name: lane.counters.dropped for name, lane in self._shown()}

    def _shown(self) -> list[tuple[str, _Lane]]:
        return [(n, lane) for n, lane in self._lanes.items() if n != OTHER or lane.counters.dropped]

    def __len__(self) -> int:
        return self._count

    def _lane_of(self, topic: aiomqtt.Topic) -> str:
        name = self._by_topic.get(topic.value)
        if name is None:
            name = next((n for f, n in self._filters if topic.matches(f)), OTHER)
            if len(self._by_topic) < 1024:  # the gateway subscribes to a handful of exact topics
                self._by_topic[topic.value] = name
        return name

    def offer(self, message: aiomqtt.Message) -> None:
        """Keep ``message`` in its lane, or drop and count it (never raises, never blocks)."""
        name = self._lane_of(message.topic)
        lane = self._lanes[name]
        c = lane.counters
        c.received += 1
        size = _size(message)
        if name == OTHER:
            self._hold(message, size)
        elif size > self.limits.max_bytes:
            c.too_large += 1
        elif not lane.bucket.take():
            c.rate_limited += 1
        elif lane.items and (
            len(lane.items) >= self.limits.queue_messages or lane.bytes + size > self.limits.queue_bytes
        ):
            c.queue_full += 1
        else:
            lane.items.append(message)
            lane.bytes += size
            self._count += 1

    def _hold(self, message: aiomqtt.Message, size: int) -> None:
        c = self._lanes[OTHER].counters
        held = self._held.get(message.topic.value)
        if held is None:
            if len(self._held) >= _HELD_TOPICS or size > self.limits.max_bytes:
                c.queue_full += 1
                return
            held = self._held[message.topic.value] = _Lane(self.limits, first=False)
        if held.items and (
            len(held.items) >= self.limits.queue_messages or held.bytes + size > self.limits.queue_bytes
        ):
            c.queue_full += 1
            return
        held.items.append(message)
        held.bytes += size

    def take(self) -> aiomqtt.Message:
        """The next message: from a *first* lane if any waits, else from the other lanes in turn."""
        for lane in self._lanes.values():
            if lane.first and lane.items:
                return self._pop(lane)
        for _ in range(len(self._turn)):
            name = self._turn[0]
            self._turn.rotate(-1)
            lane = self._lanes[name]
            if lane.items:
                return self._pop(lane)
        raise IndexError("no message waiting")

    def _pop(self, lane: _Lane) -> aiomqtt.Message:
        message = lane.items.popleft()
        lane.bytes -= _size(message)
        lane.counters.handled += 1
        self._count -= 1
        return message

    def names(self) -> Iterable[str]:
        return self._lanes.keys()


def lane_queue(lanes: InboundLanes) -> type[asyncio.Queue[aiomqtt.Message]]:
    """A queue class for ``aiomqtt.Client(queue_type=...)`` that stores into ``lanes`` (see the module doc).

    It never reports itself full, so the client never logs a line per dropped message; the lanes count instead.
    """

    class LaneQueue(asyncio.Queue[aiomqtt.Message]):
        def _init(self, maxsize: int) -> None:
            self._lanes = lanes
            self._queue = lanes  # asyncio.Queue.empty() looks at ``self._queue`` directly
            lanes.attach(self)

        def _qsize(self) -> int:
            return len(self._lanes)

        def _put(self, item: aiomqtt.Message) -> None:
            self._lanes.offer(item)

        def _get(self) -> aiomqtt.Message:
            return self._lanes.take()

    return LaneQueue
