"""``python -m sims.bluez``: a private system bus with mocked BlueZ, driven by commands.

Prints ``DBUS_SYSTEM_BUS_ADDRESS=...`` (give it to the gateway process) and, with ``--port``,
``CONTROL_PORT=...``; then reads commands (see :mod:`sims.bluez.console`) from stdin and from
TCP clients on 127.0.0.1. Stops on ``quit``, end of stdin (unless a port is served), SIGINT or SIGTERM,
and always kills the bus and the mock.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from sims.bluez.console import Console
from sims.bluez.control import BluezControl
from sims.bluez.harness import MockBluezProcesses
from sims.command_loop import add_arguments, serve


async def _main(args: argparse.Namespace, procs: MockBluezProcesses) -> None:
    async with BluezControl(procs.address) as ctl:
        await serve(Console(procs, ctl).execute, args)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sims.bluez", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--no-monitor-api", action="store_true", help="adapter without passive scanning")
    parser.add_argument("--workdir", type=Path, default=None, help="socket/log directory (default: temp)")
    args = parser.parse_args()
    procs = MockBluezProcesses(args.workdir, monitor_api=not args.no_monitor_api)
    procs.start()
    try:
        print(f"DBUS_SYSTEM_BUS_ADDRESS={procs.address}", flush=True)
        asyncio.run(_main(args, procs))
    finally:
        procs.close()


if __name__ == "__main__":
    main()
