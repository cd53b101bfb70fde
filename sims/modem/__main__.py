"""``python -m sims.modem``: a private system bus with a mocked ModemManager and one 4G modem, driven by commands.

Prints ``DBUS_SYSTEM_BUS_ADDRESS=...`` (give it to the gateway process, or put it in ``[drivers.modem]
bus_address``), ``RECORD=...`` (the JSON-lines file of SMS sent, calls placed and SMS injected) and, with
``--port``, ``CONTROL_PORT=...``; then ``READY``, and reads commands (see :mod:`sims.modem.console`) from stdin and
from TCP clients on 127.0.0.1. Stops on ``quit``, end of stdin (unless a port is served), SIGINT or SIGTERM, and
always kills the bus and the mock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from sims.modem.console import Console
from sims.modem.control import ModemControl
from sims.modem.harness import MockModemProcesses


async def _serve_stdin(console: Console, done: asyncio.Event) -> None:
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
        print(await console.execute(line), flush=True)


async def _serve_client(
    console: Console, done: asyncio.Event, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
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
            writer.write((await console.execute(line) + "\n").encode())
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _main(args: argparse.Namespace, procs: MockModemProcesses) -> None:
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    async with ModemControl(procs.address, procs.record) as ctl:
        console = Console(procs, ctl)
        server = None
        if args.port is not None:
            server = await asyncio.start_server(lambda r, w: _serve_client(console, done, r, w), "127.0.0.1", args.port)
            print(f"CONTROL_PORT={server.sockets[0].getsockname()[1]}", flush=True)
        print("READY", flush=True)
        stdin_task = None if args.no_stdin else asyncio.create_task(_serve_stdin(console, done))
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sims.modem", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="serve commands on 127.0.0.1:PORT (0 = any)")
    parser.add_argument("--no-stdin", action="store_true", help="do not read commands from stdin")
    parser.add_argument("--no-modem", action="store_true", help="start with ModemManager running but no modem")
    parser.add_argument("--workdir", type=Path, default=None, help="socket/log/record directory (default: temp)")
    args = parser.parse_args()
    procs = MockModemProcesses(args.workdir, modem=not args.no_modem)
    procs.start()
    try:
        print(f"DBUS_SYSTEM_BUS_ADDRESS={procs.address}", flush=True)
        print(f"RECORD={procs.record}", flush=True)
        asyncio.run(_main(args, procs))
    finally:
        procs.close()


if __name__ == "__main__":
    main()
