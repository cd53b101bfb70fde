"""Local feedback: tells the elder, with light, sound and voice, where their call stands.

The alarm lifecycle calls :meth:`Feedback.signal` with a state and the alarm's kind as a call moves on
(raised, delivered, sent by SMS, acknowledged, escalated, not sent) and when the uplink drops. ``signal`` only
records the state and wakes a background task, so it never blocks or raises into event handling; the task
plays the state's :class:`Pattern` on the outputs and says the prompt for that kind and state
(:mod:`gateway.feedback.prompts`). The last signal wins; "help is coming" falls back to normal after
``received_hold_s``. A "sending" prompt waits ``raised_prompt_delay_s``: if the broker has the alarm by then the
elder hears "delivered" instead of two prompts cutting each other off.

Prompts play as audio files through ALSA (:mod:`gateway.feedback.audio`); a speaker that fails is reported to
the platform as ``device.speaker_fault`` (and ``device.speaker_fault.cleared`` when it plays again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.events import EventDraft, Priority
from gateway.feedback import outputs as outputs_module
from gateway.feedback import pack
from gateway.feedback.audio import Player, PromptFiles, has_playback_device
from gateway.feedback.outputs import NullOutputs, OutputSink
from gateway.feedback.patterns import OFF, PATTERNS, Pattern, Track
from gateway.feedback.prompts import (
    ALARM_STATES,
    LANGUAGES,
    PromptKind,
    prompt_keys,
    prompt_kind,
    prompt_tag,
    prompt_text,
)
from gateway.settings.feedback import FeedbackSettings

if TYPE_CHECKING:
    from gateway.config import Config

#: Seconds after start when prompts not yet rendered (no ``build_prompts`` at setup) are rendered.
PRERENDER_AFTER_S = 30.0
#: Prompts that stay silent in quiet hours (alarm prompts never do).
QUIETABLE = frozenset({"test_received", "reminder", "checkin_received"})

Report = Callable[[list[EventDraft]], Awaitable[object]]


class Voice(Protocol):
    """What says prompts: :class:`gateway.feedback.audio.Player` (audio files) or a live espeak-ng Speaker."""

    spoken: int
    errors: int
    last_error: str

    def say(self, text: str, tag: str = "prompt") -> None: ...

    def cancel(self) -> None: ...

    async def wait(self) -> None: ...


log = logging.getLogger(__name__)


class Feedback:
    """LED, buzzer and voice feedback; a gateway service named ``"feedback"``.

    Arguments:
        settings: the ``[feedback]`` section.
        outputs: where patterns go; default: the GPIO lines of ``settings``, opened at :meth:`start`.
        speaker: what says prompts; default: audio files on ALSA if ``settings.speaker`` (or "auto" and the box
            has a playback device), else no voice.
        patterns: state -> pattern, default :data:`PATTERNS`.
        scale: multiplies every pattern duration (tests play them fast).
        prompts_root: the prompts directory when ``settings.prompts_dir`` is empty (``<state dir>/prompts``).
        report: commits events (the speaker fault) for the platform.
        local_now: the local wall time (quiet hours).
    """

    name = "feedback"

    def __init__(
        self,
        settings: FeedbackSettings | None = None,
        *,
        outputs: OutputSink | None = None,
        speaker: Voice | None = None,
        patterns: Mapping[str, Pattern] | None = None,
        scale: float = 1.0,
        prompts_root: Path | None = None,
        report: Report | None = None,
        local_now: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings or FeedbackSettings()
        self._given_outputs = outputs
        self._given_speaker = speaker
        self._base_patterns = patterns or PATTERNS
        self.scale = scale
        self._prompts_root = prompts_root
        self._report = report
        self._local_now = local_now or (lambda: datetime.now().astimezone())
        self.current: str = "normal"
        self.kind: PromptKind | None = None
        self.device_id: str | None = None
        #: (state, tag, text) of every prompt handed to the voice, in order (pages, tests, the HIL rig).
        self.said: list[tuple[str, str, str]] = []
        self._reporting: set[asyncio.Task[Any]] = set()
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
        self.speaker: Voice | None = self._given_speaker
        wanted = settings.speaker if settings.speaker != "auto" else has_playback_device()
        root = Path(settings.prompts_dir) if settings.prompts_dir else self._prompts_root
        if self.speaker is None and wanted and root is not None:
            files = PromptFiles(root, settings.language, voice=settings.espeak_voice, rate=settings.speech_rate)
            self.speaker = Player(
                files,
                device=settings.audio_device,
                command=settings.player,
                volume=settings.volume,
                timeout_s=settings.speak_timeout_s,
                on_fault=self._speaker_fault,
                on_ok=self._speaker_ok,
            )
        self.patterns: dict[str, Pattern] = {s: p.scaled(self.scale) for s, p in self._base_patterns.items()}

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
        if isinstance(self.speaker, Player):  # render what is missing now, not when an alarm needs it
            self._players.append(asyncio.create_task(self._prerender(self.speaker), name="feedback-prerender"))

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

    def signal(self, state: str, *, device_id: str | None = None, kind: str | None = None) -> None:
        """Show ``state`` (see :data:`gateway.settings.feedback.FeedbackState`) for an alarm of event kind
        ``kind`` ("alarm.smoke"; None: a call, or no alarm).

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
        pkind = prompt_kind(kind) if state in ALARM_STATES else None
        if state == self.current and pkind == self.kind and pattern.buzzer == OFF and not self.prompt(state, pkind):
            return
        self.current = state
        self.kind = pkind
        self.device_id = device_id
        self.stats["changes"] += 1
        self._wake.set()

    async def install_pack(self, language: str, url: str, sha256: str) -> dict[str, Any]:
        """The :class:`gateway.ports.PromptPacks` port: a recorded pack replaces ``language``'s prompts."""
        root = Path(self.settings.prompts_dir) if self.settings.prompts_dir else self._prompts_root
        if root is None or language not in LANGUAGES:
            raise ValueError(f"no prompts directory, or unknown language {language!r}")
        dest = root / "pack" / language
        if not sha256:
            await asyncio.to_thread(shutil.rmtree, dest, True)
            return {"language": language, "removed": True}
        data = await pack.fetch(url)
        tags = await asyncio.to_thread(pack.unpack, data, sha256, dest)
        log.info("feedback: prompt pack for %s installed (%d prompts)", language, len(tags))
        return {"language": language, "prompts": len(tags), "sha256": sha256.lower()}

    def prompt(self, state: str, kind: PromptKind | None) -> str:
        """What is said on entering ``state`` for an alarm of ``kind``: a configured override, else the table."""
        tag = prompt_tag(state, kind)
        overrides = self.settings.prompts
        if tag in overrides:
            return overrides[tag]
        if state in overrides:
            return overrides[state]
        return prompt_text(state, kind, self.settings.language)

    def quiet_now(self) -> bool:
        """Inside the configured quiet hours (local time)."""
        if not self.settings.quiet_hours:
            return False
        start, end = self.settings.quiet_hours.split("-")
        now = self._local_now().strftime("%H:%M")
        return start <= now < end if start <= end else (now >= start or now < end)

    def status(self) -> dict[str, Any]:
        """For pages and the heartbeat."""
        speaker = self.speaker
        return {
            "state": self.current,
            "kind": self.kind,
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
            kind = self.kind
            text = self.prompt(state, kind)
            if text and not (state in QUIETABLE and self.quiet_now()):
                delay = self.settings.raised_prompt_delay_s if state == "raised" else 0.0
                changes = self.stats["changes"]
                self._players.append(loop.create_task(self._say(state, kind, text, delay, changes)))
            if state == "call_received" and self.settings.received_hold_s:
                self._hold = loop.call_later(self.settings.received_hold_s, self._help_arrived)

    async def _prerender(self, player: Player) -> None:
        await asyncio.sleep(PRERENDER_AFTER_S)  # after the start's busy moments
        for state, kind in prompt_keys():
            text = self.prompt(state, kind)
            if not text:
                continue
            try:
                await player.files.file_for(prompt_tag(state, kind), text)
            except OSError as exc:
                log.warning("feedback: prompt %s not rendered: %s", prompt_tag(state, kind), exc)
                return

    async def _say(self, state: str, kind: PromptKind | None, text: str, delay: float, changes: int) -> None:
        if delay:
            await asyncio.sleep(delay)
            if self.stats["changes"] != changes:  # the state moved on meanwhile: say where it is now instead
                return
        tag = prompt_tag(state, kind)
        self.said.append((state, tag, text))
        if self.speaker is not None:
            self.speaker.say(text, tag=tag)

    def _speaker_fault(self, reason: str) -> None:
        self._send(EventDraft("device.speaker_fault", Priority.ALERT, None, {"output": "speaker", "reason": reason}))

    def _speaker_ok(self) -> None:
        self._send(EventDraft("device.speaker_fault.cleared", Priority.STATE, None, {"output": "speaker"}))

    def _send(self, draft: EventDraft) -> None:
        if self._report is None:
            return
        task = asyncio.get_running_loop().create_task(self._report_one(draft), name="feedback-report")
        self._reporting.add(task)
        task.add_done_callback(self._reporting.discard)

    async def _report_one(self, draft: EventDraft) -> None:
        assert self._report is not None
        try:
            await self._report([draft])
        except Exception as exc:  # storage refused it (logged by the outbox): nothing more to do here
            log.error("feedback: %s not stored: %s", draft.kind, exc)

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
