"""Spoken prompts through espeak-ng, as an async subprocess so speech never holds up the event loop.

A new prompt cuts off the one still playing (the newest state is the one that matters). A missing
``espeak-ng`` or a failing run is logged and counted, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from gateway.feedback.command import run_command

log = logging.getLogger(__name__)


class Speaker:
    """Speaks text with ``espeak-ng -v <voice>``.

    ``wav_dir``: write each prompt to ``<wav_dir>/<n>-<tag>.wav`` instead of playing it (rigs and tests
    without a sound card).
    """

    def __init__(
        self,
        voice: str = "cmn",
        rate: int = 150,
        volume: int = 100,
        *,
        command: str = "espeak-ng",
        timeout_s: float = 30.0,
        wav_dir: Path | None = None,
    ) -> None:
        self.voice, self.rate, self.volume = voice, rate, volume
        self.command = command
        self.timeout_s = timeout_s
        self.wav_dir = wav_dir
        self.spoken = 0
        self.errors = 0
        self.last_error = ""
        self.files: list[Path] = []
        self._task: asyncio.Task[None] | None = None
        self._count = 0

    def say(self, text: str, tag: str = "prompt") -> None:
        """Start speaking ``text`` in the background, cutting off any prompt still playing. Never blocks."""
        self.cancel()
        self._count += 1
        self._task = asyncio.get_running_loop().create_task(self._speak(text, tag), name="feedback-voice")

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def wait(self) -> None:
        """Wait for the prompt being spoken (tests, orderly stop)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _speak(self, text: str, tag: str) -> None:
        args = ["-v", self.voice, "-s", str(self.rate), "-a", str(self.volume)]
        wav: Path | None = None
        if self.wav_dir is not None:
            wav = self.wav_dir / f"{self._count:04d}-{tag}.wav"
            args += ["-w", str(wav)]
        failed = await run_command([self.command, *args, "--", text], timeout_s=self.timeout_s)
        if failed is not None:
            self._failed(failed)
            return
        self.spoken += 1
        if wav is not None:
            self.files.append(wav)

    def _failed(self, reason: str) -> None:
        self.errors += 1
        self.last_error = reason
        log.log(logging.ERROR if self.errors == 1 else logging.DEBUG, "feedback voice: %s", reason)
