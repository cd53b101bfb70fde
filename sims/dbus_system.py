"""A private D-Bus *system* bus for mocked system services (BlueZ, ModemManager, NetworkManager).

``dbus-daemon`` runs with a config written to a private directory; clients find it through
``DBUS_SYSTEM_BUS_ADDRESS``. Nothing here touches the machine's real system bus.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""


class BusError(RuntimeError):
    """The private bus or a mock on it could not be started."""


class PrivateSystemBus:
    """Owns one ``dbus-daemon`` listening on ``<workdir>/system_bus_socket`` (or, given ``address``, uses a bus
    someone else owns: :meth:`start` and :meth:`close` then leave it alone)."""

    def __init__(self, workdir: Path, start_timeout_s: float = 10.0, address: str | None = None) -> None:
        self.workdir = workdir
        self.start_timeout_s = start_timeout_s
        self.socket = workdir / "system_bus_socket"
        self.owned = address is None
        self.address = address or f"unix:path={self.socket}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the bus; returns the ``DBUS_SYSTEM_BUS_ADDRESS`` to use."""
        if not self.owned:
            self.workdir.mkdir(parents=True, exist_ok=True)
            return self.address
        if shutil.which("dbus-daemon") is None:
            raise BusError("dbus-daemon not found (Debian package 'dbus')")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "system-bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.socket))
        self._proc = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile", "--nosyslog"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for(self.socket.exists, "private dbus-daemon", self.start_timeout_s)
        except BusError:
            self.close()
            raise
        return self.address

    def close(self) -> None:
        kill(self._proc)
        self._proc = None

    def env(self) -> dict[str, str]:
        """Environment for a child process that must use this bus."""
        return {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def send(self, dest: str, path: str, member: str, *args: str, check: bool = True) -> str:
        """``dbus-send --print-reply`` on this bus (keeps harnesses free of a D-Bus library and event loop)."""
        proc = subprocess.run(
            ["dbus-send", f"--bus={self.address}", "--print-reply", f"--dest={dest}", path, member, *args],
            capture_output=True,
            text=True,
            timeout=self.start_timeout_s,
            check=False,
        )
        if check and proc.returncode != 0:
            raise BusError(f"{member} failed: {proc.stderr.strip()}")
        return proc.stdout if proc.returncode == 0 else ""


def wait_for(ready: Callable[[], bool], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.02)
    raise BusError(f"{what} did not come up within {timeout_s:g}s")


def kill(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 3 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=3)
