"""A mocked ModemManager (python-dbusmock's ``modemmanager`` plus Messaging and Voice) on a private system bus."""

from sims.modem.control import ControlError, ModemControl
from sims.modem.harness import HarnessError, MockModemProcesses

__all__ = ["ControlError", "HarnessError", "MockModemProcesses", "ModemControl"]
