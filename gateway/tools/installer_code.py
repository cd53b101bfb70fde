"""``fbgw installer-code --reset``: a new installer sign-in code for the technician page, printed once.

Under systemd the code made at first boot is never shown, so the one way to a known code on the box is this
command, as root (or the platform's signed ``set_installer_code``). Only its scrypt hash is stored
(``<state>/web/installer_code``, owned by the state directory's owner, 0600).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, load_config
from gateway.web.signin_code import CodeStore, generate_code

DEFAULT_CONFIG = Path("/etc/fbgw/fbgw.toml")


async def run(args: argparse.Namespace) -> int:
    if not args.reset:
        print("fbgw installer-code: only --reset exists (the code itself is never stored in clear)", file=sys.stderr)
        return 2
    if os.geteuid() != 0 and args.state_dir is None:
        print("fbgw installer-code --reset: run as root (sudo)", file=sys.stderr)
        return 2
    try:
        state = args.state_dir or load_config(args.config).gateway.state_dir
    except ConfigError as exc:
        print(f"fbgw installer-code: {exc}", file=sys.stderr)
        return 2
    code = generate_code(max(6, min(16, args.digits)))
    store = CodeStore(state, None)
    store.replace(code)
    st = state.stat()
    if os.geteuid() == 0:  # the service (user fbgw) must read what root wrote
        for p in (store.path.parent, store.path):
            os.chown(p, st.st_uid, st.st_gid)
    print(code)
    print("new installer code set; it takes effect when the gateway restarts (systemctl restart fbgw)", file=sys.stderr)
    return 0


def add_subcommand(sub: Any) -> None:
    p = sub.add_parser("installer-code", help="issue a new installer sign-in code (root), printed once")
    p.add_argument("--reset", action="store_true", help="make a new random code and print it")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"default: {DEFAULT_CONFIG}")
    p.add_argument("--state-dir", type=Path, help="default: the config's gateway.state_dir")
    p.add_argument("--digits", type=int, default=8)
    p.set_defaults(func=run)
