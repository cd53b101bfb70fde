"""The floor of the alarm path on this machine: the three things an alarm cannot avoid, each done bare.

1. An HTTP POST round trip on loopback to a bare aiohttp server in another process (the inject hook's transport).
2. A one-row SQLite commit in WAL mode with ``synchronous=FULL`` (the outbox's durability), in the same directory
   as the gateway's state.
3. A QoS 1 publish to a subscriber on the same Mosquitto (the uplink), timed from publish to receipt.

Their medians add up to the floor; the gateway's alarm latency is compared to it in the same run
(:mod:`bench.latency` interleaves the samples, so noise on this shared machine hits both alike).
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import aiomqtt

from gateway.tools.local_broker import Mosquitto, free_port

_SERVER = """
import sys
from aiohttp import web

async def post(request):
    await request.read()
    return web.json_response({"accepted": 1})

app = web.Application()
app.router.add_post("/r", post)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


class BareHttp:
    """A bare aiohttp server in a child process: one POST route answering a small JSON body."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(self.port)])
        self.url = f"http://127.0.0.1:{self.port}/r"

    async def wait_up(self, http: aiohttp.ClientSession) -> None:
        for _ in range(400):
            try:
                async with http.post(self.url, json={}) as resp:
                    await resp.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.025)
        raise RuntimeError("bare HTTP server did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class BareSqlite:
    """One connection, WAL, ``synchronous=FULL``; one small row per transaction."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        self.body = b"x" * 400  # about one alarm event

    def commit_one(self) -> float:
        """Milliseconds for one committed row (blocking: run it in a thread)."""
        t0 = time.perf_counter()
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO t (body) VALUES (?)", (self.body,))
        self.conn.execute("COMMIT")
        return (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        self.conn.close()


class BareMqtt:
    """A publisher and a subscriber on the broker; :meth:`one` times publish -> receipt of a QoS 1 message."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self._stack: list[aiomqtt.Client] = []
        self._got: asyncio.Queue[float] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BareMqtt:
        self.pub = aiomqtt.Client(self.broker.host, self.broker.port)
        self.sub = aiomqtt.Client(self.broker.host, self.broker.port)
        await self.pub.__aenter__()
        await self.sub.__aenter__()
        await self.sub.subscribe("floor/#", qos=1)
        self._task = asyncio.create_task(self._receive())
        return self

    async def _receive(self) -> None:
        async for _ in self.sub.messages:
            self._got.put_nowait(time.perf_counter())

    async def one(self) -> float:
        t0 = time.perf_counter()
        await self.pub.publish("floor/x", b"x" * 400, qos=1)
        arrived = await asyncio.wait_for(self._got.get(), 10)
        return (arrived - t0) * 1000

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
        await self.sub.__aexit__(None, None, None)
        await self.pub.__aexit__(None, None, None)
