"""Processes of the mocked BlueZ: a private D-Bus *system* bus and python-dbusmock's bluez5 on it.

Nothing here touches the machine's real system bus: Debian's ``dbus-daemon`` is started with a config
written to a private directory, and every client (bleak included) finds it through
``DBUS_SYSTEM_BUS_ADDRESS``. Process lifetimes are synchronous (``start`` / ``close``) so pytest fixtures
of any scope and the standalone entry point can own them; talking to the mock is asynchronous
(:mod:`sims.bluez.control`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

#: The dbusmock template file that completes bluez5 for LE (loaded into the mock process).
LE_TEMPLATE = Path(__file__).with_name("bluez_le.py")

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
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


class HarnessError(RuntimeError):
    """The private bus or the mock could not be started."""


class MockBluezProcesses:
    """Owns ``dbus-daemon`` and the ``python -m dbusmock --template bluez5`` process.

    Args:
        workdir: where the socket, bus config and mock log go (a fresh temp dir by default; removed on
            :meth:`close` only when it was created here).
        monitor_api: expose ``AdvertisementMonitorManager1`` on adapters (needed for bleak's passive
            scanning); False mimics an adapter/BlueZ without it.
        start_timeout_s: how long to wait for each process to come up.
    """

    def __init__(self, workdir: Path | None = None, *, monitor_api: bool = True, start_timeout_s: float = 10.0) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="fbgw-bluez-")) if workdir is None else workdir
        self.monitor_api = monitor_api
        self.start_timeout_s = start_timeout_s
        self.socket = self.workdir / "system_bus_socket"
        self.address = f"unix:path={self.socket}"
        self.mock_log = self.workdir / "bluez-mock.log"
        self._dbus: subprocess.Popen[bytes] | None = None
        self._mock: subprocess.Popen[bytes] | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> str:
        """Start the bus and the mock; returns the ``DBUS_SYSTEM_BUS_ADDRESS`` to use."""
        if shutil.which("dbus-daemon") is None:
            raise HarnessError("dbus-daemon not found (Debian package 'dbus')")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "system-bus.conf"
        config.write_text(_BUS_CONFIG.format(socket=self.socket))
        self._dbus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile", "--nosyslog"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self._wait(lambda: self.socket.exists(), "private dbus-daemon")
            self.start_bluez()
        except BaseException:
            self.close()
            raise
        return self.address

    def start_bluez(self) -> None:
        """(Re)start the mocked bluetoothd with its LE extension and adapter ``hci0``."""
        if self._mock is not None and self._mock.poll() is None:
            return
        params = json.dumps({"enable_monitor_api": self.monitor_api, "adapters": ["hci0"]})
        log = self.mock_log.open("ab")
        try:
            self._mock = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dbusmock",
                    "--system",
                    "--template",
                    str(LE_TEMPLATE),
                    "-p",
                    params,
                    "-l",
                    str(self.mock_log),
                ],
                env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        self._wait(self._bluez_ready, "mocked BlueZ")

    def stop_bluez(self) -> None:
        """Kill the mocked bluetoothd (BlueZ crashed / was restarted): its objects vanish silently."""
        self._kill(self._mock)
        self._mock = None

    def close(self) -> None:
        """Kill both processes and remove the private directory if it is ours."""
        self.stop_bluez()
        self._kill(self._dbus)
        self._dbus = None
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MockBluezProcesses:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def bluez_running(self) -> bool:
        return self._mock is not None and self._mock.poll() is None

    # -- helpers ----------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment for a child process (e.g. ``fbgw run``) that must use this bus."""
        return {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def _bluez_ready(self) -> bool:
        if self._mock is not None and self._mock.poll() is not None:
            tail = self.mock_log.read_text(errors="replace")[-1500:] if self.mock_log.exists() else ""
            raise HarnessError(f"dbusmock exited with {self._mock.returncode}:\n{tail}")
        # The name is claimed before the template loads: wait until the adapter exists.
        out = self._send("org.bluez", "/", "org.bluez.Mock.ListAdapters", check=False)
        return "/org/bluez/hci0" in out

    def _send(self, dest: str, path: str, member: str, *args: str, check: bool = True) -> str:
        # dbus-send keeps this module free of any D-Bus client library and of the event loop.
        proc = subprocess.run(
            ["dbus-send", f"--bus={self.address}", "--print-reply", f"--dest={dest}", path, member, *args],
            capture_output=True,
            text=True,
            timeout=self.start_timeout_s,
            check=False,
        )
        if check and proc.returncode != 0:
            raise HarnessError(f"{member} failed: {proc.stderr.strip()}")
        return proc.stdout

    def _wait(self, ready: object, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if ready():  # type: ignore[operator]
                return
            time.sleep(0.02)
        raise HarnessError(f"{what} did not come up within {self.start_timeout_s:g}s")

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)
