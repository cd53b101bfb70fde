"""How much of a backlog the uplink puts on the wire at once.

Bytes handed to a TCP connection are delivered in order: an alarm published now waits behind every byte of
backlog already in the socket. On a fast link that is nothing; on a 4G cell at the edge of coverage (a few kB/s)
a full window of 200-event batches is minutes of data, and the broker's PUBACKs for the last of it come later than
``puback_timeout_s``, so the session is dropped and the same backlog is sent again, for ever.

:class:`Pacer` keeps the ordinary events' bytes in flight near what the link delivers in :data:`TARGET_S`, from
how long PUBACKs take: a batch acknowledged within the round trip plus the target grows the budget by its size
(doubling it each round trip, as TCP's slow start does), a slower one shrinks it in proportion. Batches are cut
to half the budget so a single message can never hold the line for long. Alarms are not paced: they have their
own window and are never more than one budget behind.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

#: How long an alarm may wait behind backlog already handed to the connection (beyond the round trip).
TARGET_S = 1.0
#: The smallest budget (a batch always carries at least one event, even a larger one).
FLOOR_BYTES = 4 * 1024
#: The budget a session starts with, before any PUBACK has said how fast the link is.
START_BYTES = 32 * 1024


@dataclass(slots=True)
class PacerStats:
    budget_bytes: int = START_BYTES
    in_flight_bytes: int = 0
    #: The fastest PUBACK seen this session: the link's round trip with nothing queued.
    base_rtt_s: float | None = None
    shrinks: int = 0


class Pacer:
    """The ordinary events' byte budget for one session (a new session learns the link afresh)."""

    def __init__(self, ceiling_bytes: int, target_s: float = TARGET_S) -> None:
        self.ceiling = max(FLOOR_BYTES, ceiling_bytes)
        self.target_s = target_s
        self.stats = PacerStats(budget_bytes=min(START_BYTES, self.ceiling))
        self._released = asyncio.Event()
        #: Batches sent before the last shrink were sized under the old budget: they do not shrink it again.
        self._shrunk_at = 0.0

    def batch_bytes(self, configured: int) -> int:
        """The largest batch to fetch now: the configured one, cut to half the budget."""
        return max(FLOOR_BYTES, min(configured, self.stats.budget_bytes // 2))

    def _fits(self, size: int) -> bool:
        s = self.stats
        return s.in_flight_bytes == 0 or s.in_flight_bytes + size <= s.budget_bytes

    async def reserve(self, size: int) -> float:
        """Wait until ``size`` more bytes fit the budget (always, when nothing is in flight); returns the
        send time to hand back to :meth:`acked`."""
        while not self._fits(size):
            self._released.clear()
            await self._released.wait()
        self.stats.in_flight_bytes += size
        return time.monotonic()

    def acked(self, size: int, sent_at: float) -> None:
        """A batch of ``size`` bytes sent at ``sent_at`` was acknowledged: learn from how long it took."""
        now = time.monotonic()
        took = now - sent_at
        s = self.stats
        s.base_rtt_s = took if s.base_rtt_s is None else min(s.base_rtt_s, took)
        allowed = s.base_rtt_s + self.target_s
        if took <= allowed:
            s.budget_bytes = min(self.ceiling, s.budget_bytes + size)
        elif sent_at >= self._shrunk_at:
            s.budget_bytes = max(FLOOR_BYTES, int(s.budget_bytes * allowed / took))
            s.shrinks += 1
            self._shrunk_at = now
        self.release(size)

    def release(self, size: int) -> None:
        """``size`` bytes are no longer in flight (acknowledged, or the send failed)."""
        self.stats.in_flight_bytes = max(0, self.stats.in_flight_bytes - size)
        self._released.set()
