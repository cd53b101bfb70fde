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
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from sims.dbus_system import BusError, PrivateSystemBus, kill, wait_for

#: The dbusmock template file that completes bluez5 for LE (loaded into the mock process).
LE_TEMPLATE = Path(__file__).with_name("bluez_le.py")

#: The private bus or the mock could not be started.
HarnessError = BusError


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
        self.bus = PrivateSystemBus(self.workdir, start_timeout_s)
        self.socket = self.bus.socket
        self.address = self.bus.address
        self.mock_log = self.workdir / "bluez-mock.log"
        self._mock: subprocess.Popen[bytes] | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> str:
        """Start the bus and the mock; returns the ``DBUS_SYSTEM_BUS_ADDRESS`` to use."""
        try:
            self.bus.start()
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
        wait_for(self._bluez_ready, "mocked BlueZ", self.start_timeout_s)

    def stop_bluez(self) -> None:
        """Kill the mocked bluetoothd (BlueZ crashed / was restarted): its objects vanish silently."""
        kill(self._mock)
        self._mock = None

    def close(self) -> None:
        """Kill both processes and remove the private directory if it is ours."""
        self.stop_bluez()
        self.bus.close()
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
        return self.bus.env()

    def _bluez_ready(self) -> bool:
        if self._mock is not None and self._mock.poll() is not None:
            tail = self.mock_log.read_text(errors="replace")[-1500:] if self.mock_log.exists() else ""
            raise HarnessError(f"dbusmock exited with {self._mock.returncode}:\n{tail}")
        # The name is claimed before the template loads: wait until the adapter exists.
        out = self._send("org.bluez", "/", "org.bluez.Mock.ListAdapters", check=False)
        return "/org/bluez/hci0" in out

    def _send(self, dest: str, path: str, member: str, *args: str, check: bool = True) -> str:
        return self.bus.send(dest, path, member, *args, check=check)
