"""A TCP proxy that makes a bad WAN out of a good one: latency with jitter, loss, a rate limit.

This kernel has no ``tc netem``, so the path is made bad in user space, per direction and per connection:

- latency: each chunk read is delivered ``delay_s ± jitter_s`` later (uniform), never before an earlier chunk;
- loss: TCP never shows a lost packet to the application, it shows the retransmission: with probability
  ``loss`` a chunk (and everything behind it) is held back a further ``loss_stall_s`` (about one retransmission
  timeout on such a link);
- rate: at most ``rate_bytes_s`` bytes per second each way; reading is paced too (small reads, a short queue),
  so the sender's socket buffer fills and it feels the slow link as it would on a real one.

Listens only on the address it is given (a test's own loopback or veth address).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Impairment:
    delay_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0
    loss_stall_s: float = 1.0
    rate_bytes_s: float | None = None


@dataclass
class ProxyStats:
    connections: int = 0
    chunks: int = 0
    bytes: int = 0
    stalls: int = 0
    delays_s: list[float] = field(default_factory=list)


class FaultProxy:
    """``async with FaultProxy(listen_host, target_host, target_port, Impairment(...)) as p``: connect to
    ``p.host:p.port``. ``impairment`` may be replaced while running (applies to chunks read afterwards)."""

    def __init__(
        self, listen_host: str, target_host: str, target_port: int, impairment: Impairment, seed: int = 0
    ) -> None:
        self.host = listen_host
        self.port = 0
        self.target = (target_host, target_port)
        self.impairment = impairment
        self.stats = ProxyStats()
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await t

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        self._spawn(self._pump(reader, up_writer, writer))
        self._spawn(self._pump(up_reader, writer, up_writer))

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, other: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=8)

        async def read() -> None:
            last = 0.0
            while True:
                imp = self.impairment
                size = 65536 if imp.rate_bytes_s is None else max(256, min(4096, int(imp.rate_bytes_s / 20)))
                chunk = await src.read(size)
                if not chunk:
                    await queue.put((0.0, b""))
                    return
                delay = imp.delay_s + self._rng.uniform(-imp.jitter_s, imp.jitter_s) if imp.delay_s else 0.0
                if imp.loss and self._rng.random() < imp.loss:
                    delay += imp.loss_stall_s
                    self.stats.stalls += 1
                due = max(last, time.monotonic() + max(0.0, delay))
                last = due
                self.stats.delays_s.append(max(0.0, delay))
                await queue.put((due, chunk))

        async def write() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    with contextlib.suppress(OSError):
                        dst.write_eof()
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                dst.write(chunk)
                await dst.drain()
                self.stats.chunks += 1
                self.stats.bytes += len(chunk)
                rate = self.impairment.rate_bytes_s
                if rate:
                    await asyncio.sleep(len(chunk) / rate)

        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(read())
                tg.create_task(write())
        except* (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (dst, other):
                w.close()
                self._writers.discard(w)
