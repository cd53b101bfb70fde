"""The boot guard: what the update journal (``update.json``) means at each start, decided before the gateway runs.

It runs twice per start: as the unit's ``ExecStartPre`` (a copy of this file installed by the package as
``/usr/lib/fbgw/boot-guard``, run by the system Python, outside the slots) and again inside ``fbgw run``. The
first run is why it is standard library only and imports nothing of ours: a new version whose Python cannot even
import is still counted here, and after ``update_max_boots`` starts without passing its health check ``current``
goes back to the previous slot before systemd's ``ExecStart`` runs it. Both runs of one start share systemd's
``INVOCATION_ID``, so a start is counted once.

At each journal phase a start means:

- ``downloading`` / ``verified`` / ``installed`` with ``current`` still on the old slot: the update was
  interrupted before its switch; it ``failed`` (the running version reports ``gateway.update_failed``, the
  platform may send it again: the download resumes). With ``current`` already on the new slot: it was switched.
- ``switched`` / ``restarting`` / ``health_checking``: the new version is on trial; count the start.
- ``rolling_back``: the switch back was interrupted; finish it (``rolled_back``).
- ``committed`` / ``rolled_back`` / ``failed``: nothing to do here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE = "update.json"
PRE_SWITCH = ("downloading", "verified", "installed")
ON_TRIAL = ("switched", "restarting", "health_checking")
#: The same defaults as :class:`gateway.settings.remote.RemoteSettings` (a test keeps them equal).
DEFAULT_ROOT = "/opt/fbgw"
DEFAULT_MAX_BOOTS = 3
DEFAULT_STATE_DIR = "/var/lib/fbgw"
#: Tests only: the process kills itself with SIGKILL right after the journal durably says this phase.
KILL_AT_ENV = "FBGW_TEST_KILL_AT"


def kill_point(phase: str) -> None:
    """Die as a power cut or ``kill -9`` would, right after ``phase`` was written (``FBGW_TEST_KILL_AT``)."""
    if os.environ.get(KILL_AT_ENV) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


def write_journal(state_dir: Path, data: dict[str, Any]) -> None:
    """Replace the journal atomically (temp file, fsync, rename, fsync the directory)."""
    path = state_dir / FILE
    tmp = path.with_name(f".{FILE}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(data, sort_keys=True).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(state_dir)
    kill_point(str(data.get("phase")))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_slot(root: Path) -> str | None:
    try:
        name = Path(os.readlink(root / "current")).name
    except OSError:
        return None
    return name if name in ("a", "b") else None


def switch(root: Path, slot: str) -> None:
    """``current`` -> ``slots/<slot>``, atomically (a new link renamed over the old one) and durably."""
    if slot not in ("a", "b"):
        raise ValueError(f"no slot {slot!r}")
    tmp = root / "current.new"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(f"slots/{slot}")
    tmp.replace(root / "current")
    _fsync_dir(root)


def check(state_dir: Path, root: Path, max_boots: int, invocation: str | None) -> str:
    """Bring the journal and ``current`` to a consistent state for this start. Returns what this start is:
    ``none`` (no update in flight), ``failed`` (an interrupted update, old version stays), ``trial`` (the new
    version on trial, start counted), ``rolled_back`` (``current`` is the previous slot again)."""
    try:
        st = json.loads((state_dir / FILE).read_text())
    except FileNotFoundError:
        return "none"
    except (OSError, ValueError) as exc:
        log.error("update journal unreadable (%s): ignored", exc)
        return "none"
    if not isinstance(st, dict) or st.get("from_slot") not in ("a", "b") or st.get("to_slot") not in ("a", "b"):
        return "none"
    phase = st.get("phase")
    current = current_slot(root)
    if phase in PRE_SWITCH:
        if current != st["to_slot"]:
            st.update(phase="failed", reason=f"interrupted while {phase}", reported=False)
            write_journal(state_dir, st)
            log.error("update to %s was interrupted while %s: still on slot %s", st.get("to_version"), phase, current)
            return "failed"
        phase = "switched"  # killed between the switch and its journal entry
    if phase == "rolling_back":
        switch(root, st["from_slot"])
        st.update(phase="rolled_back", reported=False)
        write_journal(state_dir, st)
        return "rolled_back"
    if phase not in ON_TRIAL:
        return "none"
    if current != st["to_slot"]:
        st.update(phase="failed", reason="slot changed outside the update", reported=False)
        write_journal(state_dir, st)
        return "failed"
    if invocation and st.get("counted") == invocation:
        return "trial"
    boots = int(st.get("boots", 0)) + 1
    if boots > max_boots:
        log.error(
            "update to %s: %d starts without passing its check; back to slot %s",
            st.get("to_version"),
            boots - 1,
            st["from_slot"],
        )
        st.update(phase="rolling_back", reason=f"crash loop ({boots - 1} starts)", counted=invocation)
        write_journal(state_dir, st)
        switch(root, st["from_slot"])
        st.update(phase="rolled_back", reported=False)
        write_journal(state_dir, st)
        return "rolled_back"
    st.update(phase=phase, boots=boots, counted=invocation)
    write_journal(state_dir, st)
    return "trial"


def _settings(config: Path) -> tuple[Path, Path, int]:
    """state_dir, update_root and update_max_boots from the config file (defaults for what it leaves out)."""
    try:
        raw = tomllib.loads(config.read_text())
    except (OSError, ValueError) as exc:
        log.error("boot guard: %s: %s (defaults used)", config, exc)
        raw = {}
    gw, remote = raw.get("gateway", {}), raw.get("remote", {})
    return (
        Path(gw.get("state_dir", DEFAULT_STATE_DIR)),
        Path(remote.get("update_root", DEFAULT_ROOT)),
        int(remote.get("update_max_boots", DEFAULT_MAX_BOOTS)),
    )


def main(argv: list[str] | None = None) -> int:
    """``boot-guard --config FILE [--state-dir DIR]``: always exits 0 (the gateway must start either way)."""
    p = argparse.ArgumentParser(prog="fbgw-boot-guard", description="count a new version's starts; roll back")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--state-dir", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="boot-guard: %(message)s", stream=sys.stderr)
    state_dir, root, max_boots = _settings(args.config)
    try:
        outcome = check(args.state_dir or state_dir, root, max_boots, os.environ.get("INVOCATION_ID"))
    except (OSError, ValueError, TypeError) as exc:
        log.error("boot guard failed: %s", exc)
        return 0
    if outcome != "none":
        log.info("update journal: %s", outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
