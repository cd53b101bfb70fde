"""Mocked BlueZ for tests, the demo and the simulated hardware-in-the-loop rig.

A private D-Bus system bus (Debian's ``dbus-daemon``) with python-dbusmock's ``bluez5`` template plus the
LE extension :mod:`drivers.ble.testing.bluez_le`; bleak's real BlueZ backend runs against it when
``DBUS_SYSTEM_BUS_ADDRESS`` points there. ``python -m drivers.ble.testing`` runs it standalone.
"""

from drivers.ble.testing.control import BTHOME_UUID, BluezControl, ControlError, device_path
from drivers.ble.testing.harness import HarnessError, MockBluezProcesses

__all__ = ["BTHOME_UUID", "BluezControl", "ControlError", "HarnessError", "MockBluezProcesses", "device_path"]
