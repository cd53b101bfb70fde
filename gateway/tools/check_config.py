"""``fbgw check-config``: would the gateway start with this config, from this installation?

Loads the TOML the way ``fbgw run`` does, then the county acceptance profile it names from the installed package
data (a wheel missing its data fails here, not on the technician's phone), and says what it found. Used by the
Debian package's postinst, ``scripts/install`` and the packaging tests. Exit 0 usable, 2 not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.config import ConfigError, load_config
from gateway.web.acceptance import ProfileError, load_profile

DEFAULT_CONFIG = Path("/etc/fbgw/fbgw.toml")


def check(path: Path) -> tuple[bool, list[str]]:
    """(usable, lines to print). Blocking: small files only."""
    try:
        cfg = load_config(path)
    except (ConfigError, ValueError) as exc:
        return False, [f"{path}: {exc}"]
    lines = [f"fbgw {__version__}: {path} is valid", f"gateway id: {cfg.gateway.id}"]
    try:
        profile = load_profile(cfg.web.county, cfg.web.counties_dir)
    except ProfileError as exc:
        return False, [*lines, str(exc)]
    lines.append(f"county profile: {profile.id} ({profile.en}, {len(profile.items)} items)")
    lines.append(f"drivers: {', '.join(cfg.drivers) or 'none'}")
    return True, lines


async def run(args: argparse.Namespace) -> int:
    ok, lines = check(args.config)
    print("\n".join(lines), file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 2


def add_subcommand(sub: Any) -> None:
    p = sub.add_parser("check-config", help="check a config (and the county profile it names) without running")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"default: {DEFAULT_CONFIG}")
    p.set_defaults(func=run)
