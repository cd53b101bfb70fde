"""Local feedback for the elder: LED and buzzer patterns and spoken prompts for each state of a call."""

from gateway.feedback.outputs import GpiodOutputs, NullOutputs, OutputSink, open_outputs
from gateway.feedback.patterns import PATTERNS, STATES, Pattern, Track
from gateway.feedback.service import Feedback
from gateway.feedback.voice import Speaker

__all__ = [
    "PATTERNS",
    "STATES",
    "Feedback",
    "GpiodOutputs",
    "NullOutputs",
    "OutputSink",
    "Pattern",
    "Speaker",
    "Track",
    "open_outputs",
]
