"""The ``[hotspot]`` section: a Wi-Fi access point for the install window, for homes without a LAN.

Example (the package's ``/etc/fbgw/fbgw.toml`` turns it on)::

    [hotspot]
    enabled = true
    interface = ""              # the first Wi-Fi device NetworkManager manages
    offline_after_s = 120       # first boot with no network for this long: open the access point

The network name (SSID) and its password are made once per box and kept in ``<state_dir>/hotspot/wifi.json``
(0600); ``fbgw provision`` prints them on the label. NetworkManager does the rest (``ipv4.method = shared``:
DHCP and the box at ``address``).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class HotspotSettings(BaseModel):
    """A Wi-Fi access point of the box's own while the install window is open (homes without a LAN)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Offer the access point at all (off by default: a development machine's Wi-Fi is left alone).
    enabled: bool = False
    #: Wi-Fi interface to use (e.g. "wlan0"). Empty: the first Wi-Fi device NetworkManager manages.
    interface: str = Field(default="", max_length=15, pattern=r"^[A-Za-z0-9_.-]*$")
    #: Open the access point when the install button is held (the window it opens).
    on_install_button: bool = True
    #: At first boot (the install window opens by itself): if neither the uplink nor NetworkManager has a
    #: network within this many seconds, open the access point. 0: never for that reason.
    offline_after_s: int = Field(default=120, ge=0, le=3600)
    #: Radio band: "bg" (2.4 GHz, every phone) or "a" (5 GHz).
    band: Literal["bg", "a"] = "bg"
    #: The box's address and prefix on its access point (NetworkManager hands out the rest by DHCP).
    address: str = "10.42.0.1/24"
    #: Seconds to wait for NetworkManager's answer to one call.
    call_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("address")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        try:
            iface = ipaddress.IPv4Interface(value)
        except ValueError as exc:
            raise ValueError("address must be an IPv4 address with a prefix, e.g. 10.42.0.1/24") from exc
        if iface.network.prefixlen > 30 or iface.ip in (iface.network.network_address, iface.network.broadcast_address):
            raise ValueError("address must be a host address in a network of at least 4 addresses")
        return value

    @property
    def ip(self) -> str:
        return str(ipaddress.IPv4Interface(self.address).ip)

    @property
    def prefix(self) -> int:
        return ipaddress.IPv4Interface(self.address).network.prefixlen
