"""Processes of the mocked ModemManager: a private D-Bus *system* bus and python-dbusmock on it.

Nothing here touches the machine's real system bus: ``dbus-daemon`` runs with a config written to a private
directory, and clients (the gateway's modem driver included) find it through ``DBUS_SYSTEM_BUS_ADDRESS`` or the
driver's ``bus_address`` setting. Process lifetimes are synchronous so pytest fixtures of any scope and the
standalone entry point can own them; talking to the mock is asynchronous (:mod:`sims.modem.control`).
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

#: The dbusmock template (loaded into the mock process; it loads python-dbusmock's ``modemmanager``).
TEMPLATE = Path(__file__).with_name("mm_mock.py")
MM_NAME = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"

#: The private bus or the mock could not be started.
HarnessError = BusError


class MockModemProcesses:
    """Owns ``dbus-daemon`` and ``python -m dbusmock --template sims/modem/mm_mock.py``.

    Args:
        workdir: where the socket, bus config, mock log and the record file go (a fresh temp dir by default;
            removed on :meth:`close` only when it was created here).
        modem: start with one healthy modem plugged in (False: ModemManager running, no modem).
        start_timeout_s: how long to wait for each process to come up.
    """

    def __init__(self, workdir: Path | None = None, *, modem: bool = True, start_timeout_s: float = 10.0) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="fbgw-modem-")) if workdir is None else workdir
        self.modem = modem
        self.start_timeout_s = start_timeout_s
        self.bus = PrivateSystemBus(self.workdir, start_timeout_s)
        self.socket = self.bus.socket
        self.address = self.bus.address
        self.mock_log = self.workdir / "mm-mock.log"
        #: Every SMS sent, call placed and SMS injected, one JSON object per line.
        self.record = self.workdir / "modem-record.jsonl"
        self._mock: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the bus and the mock; returns the ``DBUS_SYSTEM_BUS_ADDRESS`` to use."""
        try:
            self.bus.start()
            self.start_mm()
        except BaseException:
            self.close()
            raise
        return self.address

    def start_mm(self) -> None:
        """(Re)start the mocked ModemManager."""
        if self.mm_running:
            return
        params = json.dumps({"record": str(self.record), "modem": self.modem})
        with self.mock_log.open("ab") as log:
            self._mock = subprocess.Popen(
                [sys.executable, "-m", "dbusmock", "--system", "--template", str(TEMPLATE), "-p", params],
                env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        wait_for(self._mm_ready, "mocked ModemManager", self.start_timeout_s)

    def stop_mm(self) -> None:
        """Kill the mocked ModemManager (it crashed / was restarted): its objects vanish silently."""
        kill(self._mock)
        self._mock = None

    def close(self) -> None:
        """Kill both processes and remove the private directory if it is ours."""
        self.stop_mm()
        self.bus.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MockModemProcesses:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def mm_running(self) -> bool:
        return self._mock is not None and self._mock.poll() is None

    def env(self) -> dict[str, str]:
        """Environment for a child process (e.g. ``fbgw run``) that must use this bus."""
        return self.bus.env()

    def _mm_ready(self) -> bool:
        if self._mock is not None and self._mock.poll() is not None:
            tail = self.mock_log.read_text(errors="replace")[-1500:] if self.mock_log.exists() else ""
            raise HarnessError(f"dbusmock exited with {self._mock.returncode}:\n{tail}")
        reply = self.bus.send(
            MM_NAME, MM_PATH, "org.freedesktop.DBus.Properties.Get", f"string:{MM_NAME}", "string:Version", check=False
        )
        return bool(reply)
