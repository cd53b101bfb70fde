"""The tests' broker is the same local Mosquitto the demo uses."""

from gateway.tools.local_broker import Mosquitto, free_port

__all__ = ["Mosquitto", "free_port"]
