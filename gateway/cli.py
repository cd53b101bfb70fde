"""The ``fbgw`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from gateway import __version__, memory
from gateway.config import ConfigError, load_config
from gateway.logsetup import set_level, setup_logging
from gateway.ports import EXIT_RESTART
from gateway.slots.boot import boot_check
from gateway.tools import check_config, installer_code, provision
from gateway.tools.ops_cli import add_subcommands

log = logging.getLogger("fbgw")


async def _run(args: argparse.Namespace) -> int:
    memory.limit_arenas()  # before any thread starts
    from gateway.app import Gateway

    try:
        cfg = load_config(args.config).with_overrides(state_dir=args.state_dir, broker=args.broker, http=args.http)
    except (ConfigError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    set_level(args.log_level or cfg.log_level)
    if boot_check(cfg.gateway.state_dir, cfg.remote.update_root, cfg.remote.update_max_boots):
        return EXIT_RESTART  # a new version crash-looped: the previous slot is current again
    try:
        await asyncio.to_thread(provision.first_boot, cfg, cfg.gateway.state_dir)
    except (OSError, ValueError) as exc:  # the gateway runs without an identity rather than not at all
        log.error("first start: cannot provision the box: %s", exc)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Gateway(cfg) as gw:
        print(f"fbgw {__version__}: gateway {gw.id} http://{gw.web.host}:{gw.web.port}/", file=sys.stderr, flush=True)
        await stop.wait()
        log.info("stopping")
    return gw.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fbgw", description="Home elderly-care bed gateway")
    parser.add_argument("--version", action="version", version=f"fbgw {__version__}")
    parser.add_argument(
        "--log-level",
        default=None,
        choices=["debug", "info", "warning", "error"],
        help="default: the config's log_level (info)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the gateway")
    run.add_argument("--config", type=Path, required=True, help="TOML config file")
    run.add_argument("--state-dir", type=Path, help="override gateway.state_dir")
    run.add_argument("--broker", help="override uplink.broker, e.g. mqtt://127.0.0.1:1883")
    run.add_argument("--http", help="override http.listen, HOST:PORT")
    run.set_defaults(func=_run)

    view = sub.add_parser("platform-view", help="console view of what the platform receives")
    view.add_argument("--broker", required=True)
    view.add_argument("--gateway", default="+", help="gateway id (default: all)")
    view.set_defaults(func=_platform_view)
    add_subcommands(sub)  # status, devices, outbox: for a technician on the box
    check_config.add_subcommand(sub)
    installer_code.add_subcommand(sub)
    provision.add_subcommand(sub)
    return parser


async def _platform_view(args: argparse.Namespace) -> int:
    from gateway.tools.platform_view import watch

    with contextlib.suppress(asyncio.CancelledError):
        await watch(args.broker, args.gateway)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or "info")
    try:
        return asyncio.run(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
