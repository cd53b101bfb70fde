"""Run the 433 MHz receiver module simulator standalone, for the demo, the rig and by hand.

    python -m sims.rf433 [--link PATH] [--format binary|text] [--control-port N] [--no-stdin]

It prints ``PTY /dev/pts/N``, ``PORT <path>`` (what to put in ``[drivers.rf433] port``), ``CONTROL 127.0.0.1:N``
(with ``--control-port``; 0 = any free port) and ``READY``, then reads commands from stdin and TCP clients, one
``ok ...`` / ``error ...`` reply per line:

    press CODE [FRAMES] [GAP_MS]   a pendant / pull cord press: 24-bit CODE (hex) repeated (default 10 x 100 ms)
    door ADDRESS open|closed       an EV1527 door sensor (ADDRESS: 20-bit hex; data bits A open / E closed)
    smoke CODE [SECONDS]           a smoke sensor in alarm: bursts every 2 s for SECONDS (default 6)
    garbage [N]                    line noise
    raw HEX                        bytes as they are
    format binary|text             frame format of the module
    unplug | plug                  pull the module out / put it back (the symlink follows)
    status | help | quit
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from sims.rf433.simulator import Rf433Simulator


async def execute(sim: Rf433Simulator, line: str) -> str:
    """Run one command line; returns the reply line."""
    words = line.split()
    if not words:
        return "ok"
    cmd, args = words[0], words[1:]
    try:
        if cmd == "press":
            frames = int(args[1]) if len(args) > 1 else 10
            gap = int(args[2]) if len(args) > 2 else 100
            await sim.burst(int(args[0], 16), frames, gap)
            return f"ok {frames} frames"
        if cmd == "door":
            await sim.door(int(args[0], 16), args[1] == "open")
            return "ok"
        if cmd == "smoke":
            seconds = float(args[1]) if len(args) > 1 else 6.0
            for _ in range(max(1, int(seconds / 2))):
                await sim.burst(int(args[0], 16), 5, 100)
                await asyncio.sleep(1.5)
            return "ok"
        if cmd == "garbage":
            sim.garbage(int(args[0]) if args else 1)
            return "ok"
        if cmd == "raw":
            sim.raw(bytes.fromhex(" ".join(args)))
            return "ok"
        if cmd == "format":
            if args[0] not in ("binary", "text"):
                return "error format binary|text"
            sim.format = "binary" if args[0] == "binary" else "text"
            return "ok"
        if cmd == "unplug":
            sim.unplug()
            return "ok"
        if cmd == "plug":
            sim.plug()
            return f"ok {sim.path}"
        if cmd == "status":
            plugged = "plugged" if sim.port.is_open else "unplugged"
            return f"ok {plugged} format={sim.format} frames_sent={sim.frames_sent}"
        if cmd == "help":
            doc = (__doc__ or "").splitlines()
            cmds = [ln.strip().split("  ")[0] for ln in doc if ln.startswith("    ") and "python -m" not in ln]
            return "ok " + " | ".join(cmds)
    except (IndexError, ValueError) as exc:
        return f"error {exc}"
    return f"error unknown command {cmd!r} (try help)"


async def _serve_stdin(sim: Rf433Simulator, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while not stop.is_set():
        raw = await reader.readline()
        if not raw:
            return
        line = raw.decode(errors="replace").strip()
        if line in ("quit", "exit"):
            stop.set()
            return
        print(await execute(sim, line), flush=True)


async def _serve_client(
    sim: Rf433Simulator, stop: asyncio.Event, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while not stop.is_set():
            raw = await reader.readline()
            if not raw:
                break
            line = raw.decode(errors="replace").strip()
            if line in ("quit", "exit"):
                stop.set()
                break
            writer.write((await execute(sim, line) + "\n").encode())
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim = Rf433Simulator(args.link, args.format)
    sim.open()
    print(f"PTY {sim.port.slave_path}", flush=True)
    print(f"PORT {sim.path}", flush=True)
    server = None
    if args.control_port is not None:
        server = await asyncio.start_server(lambda r, w: _serve_client(sim, stop, r, w), "127.0.0.1", args.control_port)
        host, port = server.sockets[0].getsockname()[:2]
        print(f"CONTROL {host}:{port}", flush=True)
    print("READY", flush=True)
    stdin_task = None if args.no_stdin else asyncio.create_task(_serve_stdin(sim, stop))
    try:
        if stdin_task is not None and server is None:
            await asyncio.wait([stdin_task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        else:
            await stop.wait()
    finally:
        if stdin_task is not None:
            stdin_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stdin_task
        if server is not None:
            server.close()
            await server.wait_closed()
        sim.unplug()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m sims.rf433", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--link", type=Path, help="stable symlink to the pty (survives unplug/replug)")
    p.add_argument("--format", choices=("binary", "text"), default="binary", help="frame format of the module")
    p.add_argument("--control-port", type=int, help="loopback TCP control port (0 = pick a free one)")
    p.add_argument("--no-stdin", action="store_true", help="do not read commands from stdin")
    asyncio.run(_main(p.parse_args(argv)))


if __name__ == "__main__":
    main()
