"""Local feedback: tells the elder, with light, sound and voice, where their call stands.

The alarm lifecycle calls :meth:`Feedback.signal` as a call moves on (sent, received by the platform,
escalated) and when the uplink drops. ``signal`` only records the state and wakes a background task, so it
never blocks or raises into event handling; the task plays the state's :class:`Pattern` on the outputs and
speaks its prompt. The last signal wins; "help is coming" falls back to normal after ``received_hold_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.feedback import outputs as outputs_module
from gateway.feedback.outputs import NullOutputs, OutputSink
from gateway.feedback.patterns import OFF, PATTERNS, Pattern, Track
from gateway.feedback.voice import Speaker
from gateway.settings.feedback import FeedbackSettings

if TYPE_CHECKING:
    from gateway.config import Config

log = logging.getLogger(__name__)


class Feedback:
    """LED, buzzer and voice feedback; a gateway service named ``"feedback"``.

    Arguments:
        settings: the ``[feedback]`` section.
        outputs: where patterns go; default: the GPIO lines of ``settings``, opened at :meth:`start`.
        speaker: what speaks prompts; default: espeak-ng if ``settings.speaker``, else no voice.
        patterns: state -> pattern, default :data:`PATTERNS`.
        scale: multiplies every pattern duration (tests play them fast).
    """

    name = "feedback"

    def __init__(
        self,
        settings: FeedbackSettings | None = None,
        *,
        outputs: OutputSink | None = None,
        speaker: Speaker | None = None,
        patterns: Mapping[str, Pattern] | None = None,
        scale: float = 1.0,
    ) -> None:
        self.settings = settings or FeedbackSettings()
        self._given_outputs = outputs
        self._given_speaker = speaker
        self._base_patterns = patterns or PATTERNS
        self.scale = scale
        self.current: str = "normal"
        self.device_id: str | None = None
        self.state_since = 0.0  # loop time the current state's pattern started playing
        self.errors: list[str] = []
        self.stats: dict[str, int] = {"signals": 0, "changes": 0, "ignored": 0, "output_errors": 0}
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._players: list[asyncio.Task[None]] = []
        self._hold: asyncio.TimerHandle | None = None
        self._configure(self.settings)

    def _configure(self, settings: FeedbackSettings) -> None:
        self.settings = settings
        self.outputs: OutputSink = self._given_outputs or NullOutputs()
        self.speaker = self._given_speaker
        if self.speaker is None and settings.speaker:
            self.speaker = Speaker(
                settings.voice, settings.speech_rate, settings.volume, timeout_s=settings.speak_timeout_s
            )
        self.patterns: dict[str, Pattern] = {}
        for state, pattern in self._base_patterns.items():
            prompt = settings.prompts.get(state, pattern.prompt)  # type: ignore[call-overload]
            self.patterns[state] = Pattern(pattern.led, pattern.buzzer, prompt).scaled(self.scale)

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        """Open the outputs (a line that fails is logged and left out) and show the current state."""
        if not self.settings.enabled:
            log.info("feedback disabled")
            return
        if self._given_outputs is None:
            self.outputs, self.errors = await asyncio.to_thread(outputs_module.open_outputs, self.settings)
            for error in self.errors:
                log.error("%s", error)
        self._runner = asyncio.create_task(self._run(), name="feedback")
        self._wake.set()

    async def stop(self) -> None:
        """Stop patterns and speech, switch the outputs off and release them."""
        if self._hold is not None:
            self._hold.cancel()
        tasks = [t for t in (self._runner, *self._players) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._runner, self._players = None, []
        if self.speaker is not None:
            self.speaker.cancel()
            await self.speaker.wait()
        for output in outputs_module.OUTPUTS:
            self._set(output, False)
        self.outputs.close()

    async def reconfigure(self, config: Config) -> None:
        """Apply a changed ``[feedback]`` section: restart with the new lines and prompts, same state."""
        if config.feedback == self.settings:
            return
        running = self._runner is not None
        await self.stop()
        self._configure(config.feedback)
        if running:
            await self.start()

    # ------------------------------------------------------------------ API

    def signal(self, state: str, *, device_id: str | None = None) -> None:
        """Show ``state`` ("normal", "call_sent", "call_received", "uplink_down", "escalated").

        Returns at once: the pattern plays in the background. An unknown state is logged and ignored.
        Signalling the current state again replays its sound and prompt (a second call was sent), unless
        it has none (a repeated "uplink down" does not restart the blinking).
        """
        if not isinstance(state, str) or state not in self.patterns:
            self.stats["ignored"] += 1
            log.warning("feedback: unknown state %r ignored", state)
            return
        self.stats["signals"] += 1
        pattern = self.patterns[state]
        if state == self.current and pattern.buzzer == OFF and not pattern.prompt:
            return
        self.current = state
        self.device_id = device_id
        self.stats["changes"] += 1
        self._wake.set()

    def status(self) -> dict[str, Any]:
        """For pages and the heartbeat."""
        speaker = self.speaker
        return {
            "state": self.current,
            "device": self.device_id,
            "errors": list(self.errors),
            "stats": dict(self.stats),
            "voice": None
            if speaker is None
            else {"spoken": speaker.spoken, "errors": speaker.errors, "last_error": speaker.last_error},
        }

    # ------------------------------------------------------------------ playing

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            state = self.current
            for task in self._players:
                task.cancel()
            self._players = []
            if self._hold is not None:
                self._hold.cancel()
                self._hold = None
            pattern = self.patterns[state]
            loop = asyncio.get_running_loop()
            self.state_since = loop.time()
            self._players = [
                loop.create_task(self._play("led", pattern.led), name="feedback-led"),
                loop.create_task(self._play("buzzer", pattern.buzzer), name="feedback-buzzer"),
            ]
            if pattern.prompt and self.speaker is not None:
                self.speaker.say(pattern.prompt, tag=state)
            if state == "call_received" and self.settings.received_hold_s:
                self._hold = loop.call_later(self.settings.received_hold_s, self._help_arrived)

    def _help_arrived(self) -> None:
        self._hold = None
        if self.current == "call_received":
            self.signal("normal", device_id=self.device_id)

    async def _play(self, output: str, track: Track) -> None:
        """Play a track against the loop clock (deadlines, not sleeps added up, so it does not drift)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while track.on_off_ms:
            on = True
            for ms in track.on_off_ms:
                self._set(output, on)
                deadline += ms / 1000
                await asyncio.sleep(max(0.0, deadline - loop.time()))
                on = not on
            if not track.repeat:
                break
        self._set(output, track.rest)

    def _set(self, output: str, on: bool) -> None:
        try:
            self.outputs.set(output, on)
        except OSError as exc:  # a sink should log its own errors; a failing one must not stop the others
            self.stats["output_errors"] += 1
            if self.stats["output_errors"] == 1:
                log.error("feedback %s: %s", output, exc)
