"""A 433 MHz UART receiver module on a pseudo-terminal: pendants, pull cords, door and smoke sensors on demand."""

from sims.rf433.simulator import Rf433Simulator

__all__ = ["Rf433Simulator"]
