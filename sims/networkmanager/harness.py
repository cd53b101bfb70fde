"""Processes of the mocked NetworkManager: a private D-Bus system bus and python-dbusmock on it.

Process lifetimes are synchronous so pytest fixtures of any scope and the HIL rig can own them; clients (the
gateway's hotspot service included) find the bus through ``DBUS_SYSTEM_BUS_ADDRESS``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from sims.dbus_system import BusError, PrivateSystemBus, kill, wait_for

TEMPLATE = Path(__file__).with_name("nm_mock.py")
NM_NAME = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
MOCK_PATH = "/org/freedesktop"  # where python-dbusmock's AddWiFiDevice, SetGlobalConnectionState... live
STATE_DISCONNECTED = 20
STATE_CONNECTED_GLOBAL = 70


class MockNetworkManager:
    """Owns the private bus and ``python -m dbusmock --template sims/networkmanager/nm_mock.py``.

    Args:
        wifi: Wi-Fi interfaces to add (none: a box without Wi-Fi).
        wifi_connected: the Wi-Fi interfaces are connected to a network (a box on the home's Wi-Fi).
        ethernet: Ethernet interfaces to add.
        state: NetworkManager's global state (20: no network, 70: connected with Internet access).
        running: start NetworkManager (False: only the bus; NetworkManager absent).
        bus_address: run on this system bus (another mock's, e.g. the HIL rig's mocked BlueZ: one system bus,
            as on a box) instead of a private bus of its own.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        wifi: tuple[str, ...] = ("wlan0",),
        ethernet: tuple[str, ...] = (),
        wifi_connected: bool = False,
        state: int = STATE_CONNECTED_GLOBAL,
        running: bool = True,
        bus_address: str | None = None,
        start_timeout_s: float = 10.0,
    ) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="fbgw-nm-")) if workdir is None else workdir
        self.bus = PrivateSystemBus(self.workdir, start_timeout_s, address=bus_address)
        self.wifi, self.ethernet = list(wifi), list(ethernet)
        self.params = {"wifi": self.wifi, "ethernet": self.ethernet, "State": state, "wifi_connected": wifi_connected}
        self.running = running
        self.start_timeout_s = start_timeout_s
        self.mock_log = self.workdir / "nm-mock.log"
        self._mock: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return self.bus.address

    def env(self) -> dict[str, str]:
        return self.bus.env()

    def start(self) -> str:
        """Start the bus (and NetworkManager unless ``running`` is False); returns the bus address."""
        self.bus.start()
        try:
            if self.running:
                self.start_nm()
        except BaseException:
            self.close()
            raise
        return self.address

    def start_nm(self) -> None:
        with self.mock_log.open("ab") as log:
            self._mock = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dbusmock",
                    "--system",
                    "--template",
                    str(TEMPLATE),
                    "-p",
                    json.dumps(self.params),
                ],
                env=self.env(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        wait_for(self._ready, "mocked NetworkManager", self.start_timeout_s)

    def set_state(self, state: int) -> None:
        """NetworkManager's global state (e.g. the box gets a network: 70)."""
        self.bus.send(NM_NAME, MOCK_PATH, "org.freedesktop.DBus.Mock.SetGlobalConnectionState", f"uint32:{state}")

    def close(self) -> None:
        kill(self._mock)
        self._mock = None
        self.bus.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MockNetworkManager:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _ready(self) -> bool:
        if self._mock is not None and self._mock.poll() is not None:
            tail = self.mock_log.read_text(errors="replace")[-1500:] if self.mock_log.exists() else ""
            raise BusError(f"dbusmock exited with {self._mock.returncode}:\n{tail}")
        out = self.bus.send(
            NM_NAME, NM_PATH, "org.freedesktop.DBus.Properties.Get", f"string:{NM_NAME}", "string:Devices", check=False
        )
        want = len(self.wifi) + len(self.ethernet)
        return bool(out) and out.count("object path") >= want
