"""``fbgw status`` / ``fbgw devices`` / ``fbgw outbox``: what a technician on the box needs to see.

They work whether the service runs or not: the running gateway is asked over its local HTTP API
(``/api/status``, ``/api/devices``); the state directory is read directly (registry file, outbox SQLite opened
read-only), so a gateway that will not start can still be diagnosed. Secrets are never printed (devices are
shown through :meth:`Device.public`). ``--json`` gives machine-readable output.

Exit codes of ``status``: 0 running and online, 1 running but not online, 3 not answering.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from core.devices import Device
from core.events import Priority
from gateway.config import ConfigError, load_config

DEFAULT_CONFIG = Path("/etc/fbgw/fbgw.toml")
DEFAULT_STATE = Path("/var/lib/fbgw")
DEFAULT_URL = "http://127.0.0.1:8080"
HTTP_TIMEOUT_S = 3.0


# --------------------------------------------------------------------------------------------- sources


def resolve(args: argparse.Namespace) -> tuple[Path, str, str | None]:
    """State dir, API base URL, and a note if the config could not be read (defaults used instead)."""
    state, url, note = DEFAULT_STATE, DEFAULT_URL, None
    if args.config.exists():
        try:
            cfg = load_config(args.config)
        except ConfigError as exc:
            note = f"config not usable ({exc}); using defaults"
        else:
            state = cfg.gateway.state_dir
            host = cfg.http.host
            host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
            url = f"http://{'[' + host + ']' if ':' in host else host}:{cfg.http.port}"
    return args.state_dir or state, (args.url or url).rstrip("/"), note


async def fetch_json(url: str) -> Any | None:
    """GET a JSON document from the running gateway; None if it does not answer."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)) as session,
            session.get(url) as resp,
        ):
            if resp.status != 200:
                return None
            return await resp.json()
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError):
        return None


def read_registry(state: Path) -> list[dict[str, Any]] | None:
    """Paired devices from the registry file, secrets masked; None if there is no readable registry."""
    try:
        raw = json.loads((state / "devices.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return None
    rows = raw.get("devices", {}) if isinstance(raw, dict) else {}
    return [Device.from_dict(row).public() for row in rows.values() if isinstance(row, dict)]


def read_outbox(state: Path, peek: int = 0) -> dict[str, Any] | None:
    """Backlog by priority, oldest age, next seq and the ``peek`` oldest events; None without an outbox."""
    path = state / "outbox.sqlite3"
    if not path.exists():
        return None
    companions = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
    existed = {p for p in companions if p.exists()}
    # No WAL on disk: the database file is complete; read it without touching locks or creating files.
    uri = f"file:{path}?mode=ro" if existed else f"file:{path}?immutable=1"
    conn = sqlite3.connect(uri, uri=True)
    try:
        by_prio = {
            Priority(prio).label: {"rows": n, "bytes": b}
            for prio, n, b in conn.execute("SELECT prio, COUNT(*), SUM(size) FROM outbox GROUP BY prio")
        }
        oldest = conn.execute("SELECT MIN(created_ms) FROM outbox").fetchone()[0]
        # As the outbox reads it at open: the noted next seq is written only when deletes hide it.
        row = conn.execute(
            "SELECT MAX(COALESCE((SELECT value FROM meta WHERE key='next_seq'), 1), "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox))"
        ).fetchone()
        sample = []
        for seq, prio, created, body in conn.execute(
            "SELECT seq, prio, created_ms, body FROM outbox ORDER BY prio, seq LIMIT ?", (peek,)
        ):
            event = json.loads(body)
            sample.append(
                {
                    "seq": seq,
                    "priority": Priority(prio).label,
                    "age_s": _age(created),
                    "kind": event.get("kind"),
                    "device": (event.get("device") or {}).get("id"),
                    "trace": event.get("trace"),
                }
            )
    finally:
        conn.close()
        _give_back(path, [p for p in companions if p not in existed and p.exists()])
    return {
        "rows": sum(v["rows"] for v in by_prio.values()),
        "bytes": sum(v["bytes"] for v in by_prio.values()),
        "by_priority": by_prio,
        "oldest_age_s": _age(oldest) if oldest is not None else None,
        "next_seq": row[0] if row else None,
        "oldest": sample,
    }


def _give_back(db: Path, created: list[Path]) -> None:
    """Files SQLite made for our read (as root) must stay writable by the service's user."""
    st = db.stat()
    for p in created:
        with contextlib.suppress(OSError):
            os.chown(p, st.st_uid, st.st_gid)


def _age(created_ms: int) -> int:
    return max(0, int(time.time() * 1000) - int(created_ms)) // 1000


def disk_free(state: Path) -> dict[str, int] | None:
    try:
        st = os.statvfs(state)
    except OSError:
        return None
    return {"free_bytes": st.f_bavail * st.f_frsize, "total_bytes": st.f_blocks * st.f_frsize}


# --------------------------------------------------------------------------------------------- commands


async def cmd_status(args: argparse.Namespace) -> int:
    state, url, note = resolve(args)
    live = await fetch_json(url + "/api/status")
    registry = await asyncio.to_thread(read_registry, state)
    offline: dict[str, Any] = {
        "outbox": await asyncio.to_thread(_safe_outbox, state),
        "devices": None if registry is None else len(registry),
        "disk": await asyncio.to_thread(disk_free, state),
    }
    doc: dict[str, Any] = {
        "running": live is not None,
        "url": url,
        "state_dir": str(state),
        "live": live,
        "on_disk": offline,
    }
    if note:
        doc["note"] = note
    code = 3 if live is None else (0 if live.get("uplink", {}).get("state") == "online" else 1)
    if args.json:
        _print_json(doc)
        return code
    if note:
        print(f"note: {note}")
    if live is None:
        print(f"gateway: NOT ANSWERING at {url} (is the service running? `systemctl status fbgw`)")
    else:
        up = live.get("uplink", {})
        ob = live.get("outbox", {})
        print(f"gateway: {live.get('gateway')} running, {live.get('devices')} devices")
        print(
            f"uplink:  {up.get('state')} to {up.get('endpoint') or up.get('broker')}"
            + (f" ({up['profile']})" if up.get("profile") not in (None, "fbgw") else "")
            + f", reconnects {up.get('reconnects')}"
            + (f", last error: {up['last_error']}" if up.get("last_error") else "")
        )
        if up.get("permanent_error"):
            print(f"uplink:  REFUSED BY THE PLATFORM (events wait, nothing dropped): {up['permanent_error']}")
        print(
            f"outbox:  {ob.get('rows')} events waiting ({ob.get('alarms')} alarms), "
            f"oldest {_fmt_age(ob.get('oldest_age_s'))}, dropped {ob.get('dropped') or 'none'}"
        )
        print(f"clock:   {'synchronised' if live.get('clock', {}).get('synced') else 'NOT synchronised'}")
        for d in live.get("drivers", []):
            print(f"driver:  {d.get('transport')} {d.get('state')} {d.get('detail') or ''}".rstrip())
        if https := live.get("https"):
            print(f"https:   port {https.get('port')}, certificate SHA-256 {https.get('fingerprint_sha256')}")
            if https.get("error"):
                print(f"https:   NOT LISTENING: {https['error']}")
        hotspot = live.get("hotspot") or {}
        if hotspot.get("state") not in (None, "disabled"):
            print(
                f"wifi:    install access point {hotspot['state']} ({hotspot.get('ssid')})"
                + (f": {hotspot['reason']}" if hotspot.get("reason") else "")
            )
    ob = offline["outbox"]
    if live is None and isinstance(ob, dict):
        print(f"on disk: outbox {ob['rows']} events waiting, oldest {_fmt_age(ob['oldest_age_s'])}")
    elif live is None and ob is not None:
        print(f"on disk: outbox unreadable: {ob}")
    disk = offline["disk"]
    if disk:
        mb = 1024 * 1024
        print(f"disk:    {disk['free_bytes'] // mb} MB free of {disk['total_bytes'] // mb} MB ({state})")
    return code


def _safe_outbox(state: Path) -> dict[str, Any] | str | None:
    try:
        return read_outbox(state)
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}"


async def cmd_devices(args: argparse.Namespace) -> int:
    state, url, note = resolve(args)
    live = await fetch_json(url + "/api/devices")
    if live is not None:
        devices = live.get("devices", [])
    else:
        devices = await asyncio.to_thread(read_registry, state)
        if devices is None:
            print(f"registry {state / 'devices.json'} is unreadable", file=sys.stderr)
            return 1
    if args.json:
        _print_json({"running": live is not None, "devices": devices})
        return 0
    if note:
        print(f"note: {note}")
    if live is None:
        print("(service not answering: paired devices from the registry file, no live state)")
    now = time.time()
    rows = [("ID", "TYPE", "ROOM", "TRANSPORT", "NAME", "ONLINE", "LAST SEEN", "BATTERY")]
    for d in devices:
        seen = d.get("last_seen")
        online = d.get("online")
        rows.append(
            (
                d["id"],
                d.get("type", ""),
                d.get("room", ""),
                d.get("transport", ""),
                d.get("name", ""),
                "-" if online is None else ("yes" if online else "NO"),
                "never" if not seen else _fmt_age(int(now - seen)) + " ago",
                str((d.get("values") or {}).get("battery", "-")),
            )
        )
    _print_table(rows)
    print(f"{len(devices)} devices")
    return 0


async def cmd_outbox(args: argparse.Namespace) -> int:
    state, _url, _note = resolve(args)
    try:
        info = await asyncio.to_thread(read_outbox, state, args.peek)
    except sqlite3.Error as exc:
        print(f"outbox {state / 'outbox.sqlite3'} unreadable: {exc}", file=sys.stderr)
        return 1
    if info is None:
        print(f"no outbox at {state / 'outbox.sqlite3'}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(info)
        return 0
    print(
        f"outbox: {info['rows']} events waiting, {info['bytes']} bytes, "
        f"oldest {_fmt_age(info['oldest_age_s'])}, next seq {info['next_seq']}"
    )
    for label in (p.label for p in Priority):
        part = info["by_priority"].get(label)
        if part:
            print(f"  {label:<9} {part['rows']:>8} events {part['bytes']:>10} bytes")
    if info["oldest"]:
        _print_table(
            [("SEQ", "PRIORITY", "AGE", "KIND", "DEVICE", "TRACE")]
            + [
                (
                    str(e["seq"]),
                    e["priority"],
                    _fmt_age(e["age_s"]),
                    e["kind"] or "",
                    e["device"] or "-",
                    e["trace"] or "-",
                )
                for e in info["oldest"]
            ]
        )
    return 0


# --------------------------------------------------------------------------------------------- output


def _fmt_age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False, default=str))


# --------------------------------------------------------------------------------------------- wiring


def add_subcommands(subparsers: Any) -> None:
    """Add ``status``, ``devices`` and ``outbox`` to the ``fbgw`` command's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    common.add_argument("--state-dir", type=Path, help="state directory (default: from the config)")
    common.add_argument("--url", help="gateway HTTP API base URL (default: from the config's http.listen)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    status = subparsers.add_parser("status", parents=[common], help="is the gateway running, online, keeping up?")
    status.set_defaults(func=cmd_status)
    devices = subparsers.add_parser("devices", parents=[common], help="paired devices and when they were last heard")
    devices.set_defaults(func=cmd_devices)
    outbox = subparsers.add_parser("outbox", parents=[common], help="events waiting to reach the platform")
    outbox.add_argument("--peek", type=int, default=10, metavar="N", help="show the N oldest events (default 10)")
    outbox.set_defaults(func=cmd_outbox)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m gateway.tools.ops_cli status``), same as the ``fbgw`` subcommands."""
    parser = argparse.ArgumentParser(prog="fbgw")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(asyncio.run(args.func(args)))


if __name__ == "__main__":
    sys.exit(main())
