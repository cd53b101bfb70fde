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
from pathlib import Path

from sims.command_loop import add_arguments, serve
from sims.modem.console import Console
from sims.modem.control import ModemControl
from sims.modem.harness import MockModemProcesses


async def _main(args: argparse.Namespace, procs: MockModemProcesses) -> None:
    async with ModemControl(procs.address, procs.record) as ctl:
        await serve(Console(procs, ctl).execute, args)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sims.modem", description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
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
