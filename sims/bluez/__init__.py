"""Mocked BlueZ for tests, the demo and the simulated hardware-in-the-loop rig.

A private D-Bus system bus (Debian's ``dbus-daemon``) with python-dbusmock's ``bluez5`` template plus the
LE extension :mod:`sims.bluez.bluez_le`; bleak's real BlueZ backend runs against it when
``DBUS_SYSTEM_BUS_ADDRESS`` points there. ``python -m sims.bluez`` runs it standalone.
"""

from sims.bluez.control import BTHOME_UUID, BluezControl, ControlError, device_path
from sims.bluez.harness import HarnessError, MockBluezProcesses

__all__ = ["BTHOME_UUID", "BluezControl", "ControlError", "HarnessError", "MockBluezProcesses", "device_path"]
