"""What each feedback state looks, sounds and says like: one table.

Each output plays a :class:`Track`: on/off durations starting with "on", played once or repeated, then left
at ``rest``. The patterns are chosen to be told apart without reading anything: a slow heartbeat when all is
well, a slow blink and one beep while a call is being sent, fast blinking and three beeps when it has reached
the platform (a blink-pause rhythm when it went by SMS), a steady light and one long tone when the platform
has confirmed it, a double blink when the network is down (with two long tones when a call could not be
sent), and frantic blinking while there is no answer yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.settings.feedback import FeedbackState


@dataclass(frozen=True, slots=True)
class Track:
    """One output's pattern: ``on_off_ms`` alternates on, off, on... (ms); ``rest`` is the level after it."""

    on_off_ms: tuple[int, ...] = ()
    repeat: bool = False
    rest: bool = False

    def scaled(self, scale: float) -> Track:
        return Track(tuple(max(1, round(ms * scale)) for ms in self.on_off_ms), self.repeat, self.rest)


@dataclass(frozen=True, slots=True)
class Pattern:
    led: Track
    buzzer: Track

    def scaled(self, scale: float) -> Pattern:
        return Pattern(self.led.scaled(scale), self.buzzer.scaled(scale))


OFF = Track()
STEADY = Track(rest=True)

#: state -> pattern. What is said with it is in :mod:`gateway.feedback.prompts` (per alarm kind and language).
PATTERNS: Mapping[FeedbackState, Pattern] = {
    "normal": Pattern(led=Track((100, 2900), repeat=True), buzzer=OFF),
    "raised": Pattern(led=Track((400, 400), repeat=True), buzzer=Track((150,))),
    "call_sent": Pattern(led=Track((200, 200), repeat=True), buzzer=Track((150, 150, 150, 150, 150))),
    "sms_sent": Pattern(led=Track((200, 200, 200, 1000), repeat=True), buzzer=Track((150, 150, 150, 150, 150))),
    "call_received": Pattern(led=STEADY, buzzer=Track((800,))),
    "uplink_down": Pattern(led=Track((100, 150, 100, 1650), repeat=True), buzzer=OFF),
    "not_sent": Pattern(led=Track((100, 150, 100, 650), repeat=True), buzzer=Track((600, 300, 600))),
    "escalated": Pattern(led=Track((80, 80), repeat=True), buzzer=Track((300, 300, 300, 300, 300))),
    "test_received": Pattern(led=Track((500, 500, 500)), buzzer=Track((100, 100, 100))),
    "reminder": Pattern(led=Track((300, 700), repeat=True), buzzer=Track((200, 200, 200))),
    "checkin_received": Pattern(led=Track((300, 300, 300)), buzzer=Track((100,))),
    "cancelled": Pattern(led=Track((1000,)), buzzer=Track((100, 100, 400))),
}

STATES: tuple[FeedbackState, ...] = tuple(PATTERNS)
