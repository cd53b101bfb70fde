"""A mocked NetworkManager (python-dbusmock's ``networkmanager``, able to run an access point) on a private bus."""

from sims.dbus_system import BusError
from sims.networkmanager.control import NetworkManagerView
from sims.networkmanager.harness import MockNetworkManager

__all__ = ["BusError", "MockNetworkManager", "NetworkManagerView"]
