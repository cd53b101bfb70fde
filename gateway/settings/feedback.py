"""The ``[feedback]`` section: LED / buzzer lines and the spoken prompts.

Example::

    [feedback]
    led_chip = "/dev/gpiochip0"
    led_line = 22
    buzzer_line = 23          # on led_chip unless buzzer_chip is set
    speaker = "auto"          # speak prompts if a sound device exists
    language = "zh-CN"        # or "en"
    audio_device = "default"  # the ALSA device aplay plays on
    quiet_hours = "22:00-07:00"  # reminders and other non-alarm prompts stay silent then; alarms never

No line configured means no light/buzzer (the states are still tracked and shown on pages).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The states local feedback can show, in the words of the alarm lifecycle.
#: "raised": stored, not yet at the broker; "call_sent": at the broker (PUBACK); "sms_sent": sent by the second
#: path; "call_received": acknowledged, help is coming; "escalated": no answer yet, still trying; "not_sent": the
#: uplink is down and nothing left the box; "uplink_down": no alarm open, the network is down (light only).
FeedbackState = Literal[
    "normal",
    "raised",
    "call_sent",
    "sms_sent",
    "call_received",
    "escalated",
    "not_sent",
    "uplink_down",
    "test_received",
    "cancelled",
    "reminder",
    "checkin_received",
]
Language = Literal["zh-CN", "en"]
#: The alarm kinds the elder is told apart (gateway.feedback.prompts maps event kinds onto them).
PromptKind = Literal["call", "fall", "smoke", "gas", "leak", "bed_exit", "vitals", "other"]
#: espeak-ng voice per language (when ``voice`` is not set).
VOICES: dict[str, str] = {"zh-CN": "cmn", "en": "en"}
_QUIET = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")

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
    #: Speak the prompts: true, false, or "auto" (when the box has an ALSA playback device).
    speaker: bool | Literal["auto"] = "auto"
    language: Language = "zh-CN"  # the prompts' language
    #: espeak-ng voice the default prompts are rendered with; "" = the language's (cmn, en).
    voice: str = Field(default="", pattern=r"^[A-Za-z0-9_+-]{0,40}$")
    speech_rate: int = Field(default=150, ge=80, le=450)  # words per minute
    volume: int = Field(default=100, ge=0, le=200)  # playback volume in percent of the recorded level
    audio_device: str = Field(default="default", min_length=1, max_length=200)  # ALSA device (aplay -D)
    #: The program that plays a WAV from stdin, called as ``aplay -q -D <audio_device> -t wav -``.
    player: str = Field(default="aplay", min_length=1, max_length=300)
    #: Where prompt audio lives; "" = <state dir>/prompts (rendered at setup or first start; packs go there).
    prompts_dir: str = ""
    #: "HH:MM-HH:MM" (local time) when non-alarm prompts (reminders, test) are silent; "" = never. Alarms always speak.
    quiet_hours: str = ""
    #: Override a prompt: key "state" (every kind) or "kind.state" ("smoke.call_sent"); "" silences it.
    prompts: dict[str, str] = Field(default_factory=dict)
    #: A call's "sending" prompt waits this long: if the broker has it by then, "sent" is said instead.
    raised_prompt_delay_s: float = Field(default=1.5, ge=0, le=30)
    received_hold_s: float = Field(default=300.0, ge=0, le=86_400)  # "help is coming" then normal; 0 = stay
    speak_timeout_s: float = Field(default=30.0, gt=0, le=300)  # a prompt longer than this is cut off

    @field_validator("prompts")
    @classmethod
    def _prompt_keys(cls, value: dict[str, str]) -> dict[str, str]:
        states, kinds = get_args(FeedbackState), get_args(PromptKind)
        bad = [
            k for k in value if k not in states and not (k.partition(".")[0] in kinds and k.partition(".")[2] in states)
        ]
        if bad:
            raise ValueError(f"prompt keys must be 'state' or 'kind.state', not {bad[:3]}")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if value and not _QUIET.match(value):
            raise ValueError("quiet_hours must be 'HH:MM-HH:MM' or empty")
        return value

    @property
    def espeak_voice(self) -> str:
        return self.voice or VOICES[self.language]

    @property
    def buzzer_chip_path(self) -> str:
        return self.buzzer_chip or self.led_chip
