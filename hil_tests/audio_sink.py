"""The simulated rig's loudspeaker: stands in for ``aplay`` and keeps every prompt the gateway plays.

Called exactly as the gateway calls ``aplay`` (``-q -D <device> -t wav -``, the WAV on stdin); writes it to
``<dir>/<CLOCK_MONOTONIC ns at start>.wav``, so the suite can tell which prompt played (its bytes equal one of
the gateway's prompt files) and when. ``python -m hil_tests.audio_sink DIR [aplay arguments...]``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    started = time.monotonic_ns()
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    data = sys.stdin.buffer.read()
    tmp = out / f".{started}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, out / f"{started}.wav")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
