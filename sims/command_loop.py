"""The command loop the D-Bus simulators share (``python -m sims.bluez``, ``python -m sims.modem``).

Commands come one per line from stdin and from TCP clients on 127.0.0.1 (``--port``); each answer is one line.
``quit``, the end of stdin (unless a port is served), SIGINT or SIGTERM end the loop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable

Execute = Callable[[str], Awaitable[str]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="serve commands on 127.0.0.1:PORT (0 = any)")
    parser.add_argument("--no-stdin", action="store_true", help="do not read commands from stdin")


async def _serve_stdin(execute: Execute, done: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while not done.is_set():
        raw = await reader.readline()
        if not raw:
            return
        line = raw.decode(errors="replace").strip()
        if line == "quit":
            done.set()
            return
        print(await execute(line), flush=True)


async def _serve_client(
    execute: Execute, done: asyncio.Event, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while not done.is_set():
            raw = await reader.readline()
            if not raw:
                break
            line = raw.decode(errors="replace").strip()
            if line == "quit":
                done.set()
                break
            writer.write((await execute(line) + "\n").encode())
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(execute: Execute, args: argparse.Namespace) -> None:
    """Print ``CONTROL_PORT=...`` (with ``--port``) and ``READY``, then run commands until told to stop."""
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    server = None
    if args.port is not None:
        server = await asyncio.start_server(lambda r, w: _serve_client(execute, done, r, w), "127.0.0.1", args.port)
        print(f"CONTROL_PORT={server.sockets[0].getsockname()[1]}", flush=True)
    print("READY", flush=True)
    stdin_task = None if args.no_stdin else asyncio.create_task(_serve_stdin(execute, done))
    if stdin_task is not None and server is None:
        await asyncio.wait([stdin_task, asyncio.create_task(done.wait())], return_when=asyncio.FIRST_COMPLETED)
    else:
        await done.wait()
    if stdin_task is not None:
        stdin_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stdin_task
    if server is not None:
        server.close()
        await server.wait_closed()
