"""The ``[drivers.modem]`` section: which modem, which bus, and the timings of sends and calls."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModemSection(BaseModel):
    """``[drivers.modem]``. Contacts and the failover policy live in ``[modem]``, not here: this is the device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: D-Bus address of the system bus ("" = the system bus; tests and the simulated rig give a private one).
    bus_address: str = ""
    #: Which modem: "" = the first one ModemManager lists, a number = ModemManager's modem index
    #: (``/org/freedesktop/ModemManager1/Modem/N``), anything else = the modem's IMEI (EquipmentIdentifier).
    modem: str = Field(default="", max_length=64)
    #: Enable a modem ModemManager left disabled (nothing else on the gateway enables it; NetworkManager would).
    enable: bool = True
    #: How long one SMS may take from Send to the network's answer before it counts as failed.
    send_timeout_s: float = Field(default=60.0, gt=0, le=600)
    #: Default ring time of ``call`` when the caller gives none... and the ceiling of what a caller may ask.
    ring_timeout_s: float = Field(default=45.0, gt=0, le=300)
    #: How long an answered call is kept up before the gateway hangs up (the far end may hang up first).
    hold_s: float = Field(default=30.0, ge=0, le=600)
    #: An incoming SMS still "receiving" (missing parts) after this long is read as it is.
    receive_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    #: Delete received SMS from the modem/SIM once read (the SIM holds only a few dozen).
    delete_received: bool = True
    #: ModemManager takes tens of seconds to probe a modem after boot: a modem not ready yet is reported as a
    #: fault only after this long (a modem that is ready is reported at once).
    startup_grace_s: float = Field(default=60.0, ge=0, le=600)
    #: D-Bus method reply timeout for everything except Send.
    call_timeout_s: float = Field(default=10.0, gt=0, le=120)
    #: Reconnect backoff when the system bus is unreachable.
    retry_min_s: float = Field(default=1.0, gt=0, le=60)
    retry_max_s: float = Field(default=30.0, gt=0, le=600)
