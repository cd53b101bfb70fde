"""The ``[feedback]`` section: LED / buzzer lines and the spoken prompts.

Example::

    [feedback]
    led_chip = "/dev/gpiochip0"
    led_line = 22
    buzzer_line = 23          # on led_chip unless buzzer_chip is set
    speaker = true            # speak prompts through espeak-ng
    voice = "cmn"             # Mandarin

No line configured means no light/buzzer (the states are still tracked and shown on pages).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: The states local feedback can show, in the words of the alarm lifecycle.
FeedbackState = Literal["normal", "call_sent", "call_received", "uplink_down", "escalated"]

Line = int | str  # an offset on the chip, or the line's name


class FeedbackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    led_chip: str = "/dev/gpiochip0"
    led_line: Line | None = None
    led_active_low: bool = False
    buzzer_chip: str | None = None  # None: the same chip as the LED
    buzzer_line: Line | None = None
    buzzer_active_low: bool = False
    speaker: bool = False  # a speaker is fitted: speak the prompts
    voice: str = Field(default="cmn", pattern=r"^[A-Za-z0-9_+-]{1,40}$")  # espeak-ng voice
    speech_rate: int = Field(default=150, ge=80, le=450)  # words per minute
    volume: int = Field(default=100, ge=0, le=200)  # espeak-ng amplitude
    prompts: dict[FeedbackState, str] = Field(default_factory=dict)  # override a prompt; "" silences it
    received_hold_s: float = Field(default=300.0, ge=0, le=86_400)  # "help is coming" then normal; 0 = stay
    speak_timeout_s: float = Field(default=30.0, gt=0, le=300)  # a prompt longer than this is cut off

    @property
    def buzzer_chip_path(self) -> str:
        return self.buzzer_chip or self.led_chip
