"""What each feedback state looks, sounds and says like: one table.

Each output plays a :class:`Track`: on/off durations starting with "on", played once or repeated, then left
at ``rest``. The patterns are chosen to be told apart without reading anything: a slow heartbeat when all is
well, fast blinking and three beeps when a call has gone out, a steady light and one long tone when the
platform has confirmed it, a double blink when the network is down, and frantic blinking when the call has
been escalated to other contacts.
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
    prompt: str = ""  # spoken once when the state is entered (if a speaker is fitted); "" = silent

    def scaled(self, scale: float) -> Pattern:
        return Pattern(self.led.scaled(scale), self.buzzer.scaled(scale), self.prompt)


OFF = Track()
STEADY = Track(rest=True)

#: state -> pattern. Prompts are Mandarin, short, and say what the elder needs to know.
PATTERNS: Mapping[FeedbackState, Pattern] = {
    "normal": Pattern(led=Track((100, 2900), repeat=True), buzzer=OFF),
    "call_sent": Pattern(
        led=Track((200, 200), repeat=True),
        buzzer=Track((150, 150, 150, 150, 150)),
        prompt="呼叫已发出，请稍候。",
    ),
    "call_received": Pattern(
        led=STEADY,
        buzzer=Track((800,)),
        prompt="平台已收到您的呼叫，救助人员正在赶来，请保持冷静。",
    ),
    "uplink_down": Pattern(led=Track((100, 150, 100, 1650), repeat=True), buzzer=OFF),
    "escalated": Pattern(
        led=Track((80, 80), repeat=True),
        buzzer=Track((300, 300, 300, 300, 300)),
        prompt="暂未收到回应，正在联系您的紧急联系人。",
    ),
}

STATES: tuple[FeedbackState, ...] = tuple(PATTERNS)
