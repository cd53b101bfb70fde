"""Running a sound command (espeak-ng, aplay) as an async subprocess with a deadline.

A prompt is cut off by the next one (cancellation) or by its deadline; either way the process is killed and
reaped, never left behind. A failure comes back as one short line for the log and the platform."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence


async def run_command(argv: Sequence[str], *, stdin: bytes | None = None, timeout_s: float | None = None) -> str | None:
    """Run ``argv`` (feeding it ``stdin``); None when it exited 0, else why not. Cancellation kills it."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return f"cannot run {argv[0]}: {exc}"
    try:
        async with asyncio.timeout(timeout_s):
            _, err = await proc.communicate(stdin)
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return f"{argv[0]} took longer than {timeout_s:g} s; cut off"
    if proc.returncode != 0:
        reason = " ".join(err.decode(errors="replace").split())
        return f"{' '.join(argv[:3])} exited {proc.returncode}: {reason[-200:]}"
    return None
