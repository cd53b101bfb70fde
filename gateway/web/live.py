"""Live updates for open pages: a fan-out of small JSON messages to Server-Sent-Events streams.

Publishing never blocks: each subscriber has a bounded queue; a subscriber that falls behind gets an
``overflow`` message and is dropped (its page reconnects and reloads the state). Streams end when the
server shuts down or the install window closes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

QUEUE_LEN = 256
MAX_SUBSCRIBERS = 16
KEEPALIVE_S = 15.0

_END = object()


class TooManyStreams(RuntimeError):
    pass


class LiveHub:
    def __init__(self) -> None:
        self._subs: set[asyncio.Queue[Any]] = set()

    def __len__(self) -> int:
        return len(self._subs)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        if not self._subs:
            return
        line = f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"
        for q in list(self._subs):
            try:
                q.put_nowait(line)
            except asyncio.QueueFull:
                self._subs.discard(q)
                while not q.empty():
                    q.get_nowait()
                q.put_nowait("event: overflow\ndata: {}\n\n")
                q.put_nowait(_END)

    def close_all(self) -> None:
        for q in list(self._subs):
            while q.full():
                q.get_nowait()
            q.put_nowait(_END)
        self._subs.clear()

    async def stream(
        self, request: web.Request, hello: dict[str, Any], alive: Callable[[], bool] = lambda: True
    ) -> web.StreamResponse:
        """Serve one SSE stream until the client leaves, the hub closes it, or ``alive()`` turns False
        (checked before every message and keepalive: a signed-out session stops hearing anything)."""
        if len(self._subs) >= MAX_SUBSCRIBERS:
            raise TooManyStreams(f"at most {MAX_SUBSCRIBERS} live views at once")
        q: asyncio.Queue[Any] = asyncio.Queue(QUEUE_LEN)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        self._subs.add(q)
        try:
            await resp.write(f"retry: 2000\nevent: hello\ndata: {json.dumps(hello)}\n\n".encode())
            while True:
                try:
                    item = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                except TimeoutError:
                    item = ": keepalive\n\n"
                if item is _END or not alive():
                    break
                await resp.write(item.encode())
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self._subs.discard(q)
        return resp
