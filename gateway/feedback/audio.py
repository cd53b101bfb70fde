"""Prompts as audio files, played through ALSA with ``aplay`` (an async subprocess: the loop never waits on it).

Files live in the prompts directory, one per language and prompt tag (``prompts.prompt_tag``):

- ``<dir>/pack/<lang>/<tag>.wav`` — a replacement pack pushed by the platform (a dialect recording), used first;
- ``<dir>/<lang>/<tag>.wav`` — the defaults, rendered with espeak-ng by ``python -m gateway.feedback.build_prompts``
  at setup, or at first start, or on demand when a prompt is missing or its text changed (``manifest.json``
  beside them remembers the text each file says).

Volume is applied while piping the samples to ``aplay`` (16-bit PCM scaled in a thread). A playback that fails
(no device, ``aplay`` missing or exiting non-zero) is counted and handed to ``on_fault`` so the platform hears of
a broken speaker; the next good playback calls ``on_ok``.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import io
import json
import logging
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.feedback.command import run_command

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class Played:
    """One prompt that played (for pages, tests and the HIL rig's capture)."""

    tag: str
    text: str
    path: Path
    mono: float


async def render(text: str, out: Path, *, voice: str, rate: int, command: str = "espeak-ng") -> None:
    """Render ``text`` to the WAV file ``out`` with espeak-ng (written beside, then renamed: never half a file)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    failed = await run_command([command, "-v", voice, "-s", str(rate), "-w", str(tmp), "--", text])
    if failed is not None:
        tmp.unlink(missing_ok=True)
        raise OSError(failed)
    tmp.replace(out)


def scaled_wav(path: Path, volume: int) -> bytes:
    """The WAV at ``path`` with its 16-bit samples scaled to ``volume`` percent (clipped). Blocking: use a thread."""
    data = path.read_bytes()
    if volume == 100:
        return data
    with wave.open(io.BytesIO(data)) as src:
        params = src.getparams()
        frames = src.readframes(params.nframes)
    if params.sampwidth != 2:
        return data  # only 16-bit PCM is scaled; anything else plays as recorded
    samples = array.array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    factor = volume / 100
    for i, s in enumerate(samples):
        samples[i] = max(-32768, min(32767, int(s * factor)))
    if sys.byteorder == "big":
        samples.byteswap()
    out = io.BytesIO()
    with wave.open(out, "wb") as dst:
        dst.setparams(params)
        dst.writeframes(samples.tobytes())
    return out.getvalue()


class PromptFiles:
    """Finds (and renders when missing) the audio file of a prompt."""

    def __init__(self, root: Path, language: str, *, voice: str, rate: int, command: str = "espeak-ng") -> None:
        self.root, self.language, self.voice, self.rate, self.command = root, language, voice, rate, command
        self._lock = asyncio.Lock()

    def pack_file(self, tag: str) -> Path:
        return self.root / "pack" / self.language / f"{tag}.wav"

    def default_file(self, tag: str) -> Path:
        return self.root / self.language / f"{tag}.wav"

    def _manifest(self) -> dict[str, str]:
        try:
            doc = json.loads((self.root / self.language / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}

    async def file_for(self, tag: str, text: str, *, use_pack: bool = True) -> Path:
        """The file that says ``text`` as prompt ``tag``: the pack's, else the default (rendered if missing or
        stale). Raises OSError if it cannot be rendered."""
        pack = self.pack_file(tag)
        if use_pack and pack.is_file():
            return pack
        out = self.default_file(tag)
        async with self._lock:
            manifest = await asyncio.to_thread(self._manifest)
            if manifest.get(tag) == text and out.is_file():
                return out
            await render(text, out, voice=self.voice, rate=self.rate, command=self.command)
            manifest[tag] = text
            data = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True)
            await asyncio.to_thread((self.root / self.language / MANIFEST).write_text, data, "utf-8")
        return out


class Player:
    """Plays prompt files on an ALSA device; a new prompt cuts off the one playing (the newest state matters).

    Same calls as :class:`gateway.feedback.voice.Speaker` (``say``, ``cancel``, ``wait``), so feedback uses
    either.
    """

    def __init__(
        self,
        files: PromptFiles,
        *,
        device: str = "default",
        volume: int = 100,
        command: str = "aplay",
        timeout_s: float = 30.0,
        on_fault: Callable[[str], object] | None = None,
        on_ok: Callable[[], object] | None = None,
    ) -> None:
        self.files, self.device, self.volume, self.command = files, device, volume, command
        self.timeout_s = timeout_s
        self.on_fault, self.on_ok = on_fault, on_ok
        self.spoken = 0
        self.errors = 0
        self.last_error = ""
        self.faulty = False
        self.played: list[Played] = []
        self._task: asyncio.Task[None] | None = None

    def say(self, text: str, tag: str = "prompt") -> None:
        """Start playing prompt ``tag`` (saying ``text``) in the background; never blocks."""
        self.cancel()
        self._task = asyncio.get_running_loop().create_task(self._play(text, tag), name="feedback-audio")

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def wait(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _play(self, text: str, tag: str) -> None:
        try:
            path = await self.files.file_for(tag, text)
            audio = await asyncio.to_thread(scaled_wav, path, self.volume)
        except (OSError, wave.Error, EOFError) as exc:
            self._failed(f"prompt {tag}: no audio: {exc}")
            return
        argv = [self.command, "-D", self.device, "-q", "-t", "wav", "-"]
        failed = await run_command(argv, stdin=audio, timeout_s=self.timeout_s)
        if failed is not None:
            self._failed(failed)
            return
        self.spoken += 1
        self.played.append(Played(tag, text, path, time.monotonic()))
        if self.faulty:
            self.faulty = False
            if self.on_ok is not None:
                self.on_ok()

    def _failed(self, reason: str) -> None:
        self.errors += 1
        self.last_error = reason
        log.log(logging.ERROR if not self.faulty else logging.DEBUG, "feedback audio: %s", reason)
        if not self.faulty:
            self.faulty = True
            if self.on_fault is not None:
                self.on_fault(reason)


def has_playback_device(proc_asound: Path = Path("/proc/asound/pcm")) -> bool:
    """True if the kernel lists an ALSA playback device (what ``speaker = "auto"`` looks for)."""
    try:
        return any("playback" in line for line in proc_asound.read_text().splitlines())
    except OSError:
        return False
