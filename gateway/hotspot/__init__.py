"""A Wi-Fi access point of the box's own for the install window (NetworkManager over D-Bus)."""

from gateway.hotspot.service import HotspotService

__all__ = ["HotspotService"]
