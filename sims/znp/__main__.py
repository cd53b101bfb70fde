"""Run the ZNP coordinator simulator standalone, for the demo and the hardware-in-the-loop rig.

    python -m sims.znp [--link PATH] [--state FILE] [--control-port N] [--no-stdin]

It prints, one per line and flushed::

    PTY /dev/pts/7                  the pseudo-terminal itself
    PORT /tmp/fbgw-znp              what to put in [drivers.zigbee] port (the stable symlink, if --link)
    CONTROL 127.0.0.1:40123         the loopback control port (when --control-port is given; 0 = any)
    READY

then reads control lines (see :mod:`sims.znp.control`) from stdin and from TCP clients,
answering each with one ``ok ...`` / ``error ...`` line. ``--state`` keeps NV memory and joined devices
across runs, like a real stick's flash. SIGINT/SIGTERM or ``quit`` stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from sims.znp.control import execute
from sims.znp.simulator import ZnpSimulator


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sims.znp", description=__doc__.splitlines()[0])
    p.add_argument("--link", type=Path, help="stable symlink to the pty (survives unplug/replug)")
    p.add_argument("--state", type=Path, help="JSON file keeping NV memory and joined devices")
    p.add_argument("--control-port", type=int, help="loopback TCP control port (0 = pick a free one)")
    p.add_argument("--no-stdin", action="store_true", help="do not read commands from stdin")
    p.add_argument("--ieee", help="coordinator IEEE address, 16 hex digits")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


def say(line: str) -> None:
    print(line, flush=True)


async def _serve_stdin(sim: ZnpSimulator, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while not stop.is_set():
        raw = await reader.readline()
        if not raw:
            return  # stdin closed: keep running on the control port / until a signal
        line = raw.decode(errors="replace").strip()
        if line in ("quit", "exit"):
            stop.set()
            return
        if line:
            say(execute(sim, line))


async def _serve_tcp(sim: ZnpSimulator, port: int, stop: asyncio.Event) -> asyncio.Server:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while raw := await reader.readline():
                line = raw.decode(errors="replace").strip()
                if line in ("quit", "exit"):
                    stop.set()
                    writer.write(b"ok bye\n")
                    break
                if line:
                    writer.write((execute(sim, line) + "\n").encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", port)
    host, bound = server.sockets[0].getsockname()[:2]
    say(f"CONTROL {host}:{bound}")
    return server


async def run(args: argparse.Namespace) -> None:
    ieee = int(args.ieee, 16) if args.ieee else None
    sim = ZnpSimulator(link=args.link, state_file=args.state, ieee=ieee)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        say(f"PTY {sim.port.slave_path}")
        say(f"PORT {sim.path}")
        server = await _serve_tcp(sim, args.control_port, stop) if args.control_port is not None else None
        say("READY")
        stdin_task = None if args.no_stdin else asyncio.create_task(_serve_stdin(sim, stop))
        await stop.wait()
        if stdin_task is not None:
            stdin_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stdin_task
        if server is not None:
            server.close()
            await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
