"""Process memory: fewer malloc arenas, and the heap the start-up freed handed back to the kernel.

glibc gives each thread that allocates an arena of its own (up to eight per core), and freed memory stays in
it: the outbox writer, the threads that import the drivers and asyncio's executor each keep some. One event
loop and a few helper threads need no more than two. Once the gateway has started, what the imports and the
drivers' start-up freed is returned with ``malloc_trim``. Both are glibc calls; with another C library they are
skipped (and report False).
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

#: ``mallopt`` parameter number of M_ARENA_MAX (glibc's malloc.h).
M_ARENA_MAX = -8
#: Arenas for the whole process: the event loop's and one shared by the helper threads.
ARENAS = 2


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)  # the C library the interpreter itself runs on
    except OSError:
        return None


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap malloc's arenas; call before the first thread starts. False where not glibc."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Give freed heap back to the kernel (blocking for a few ms: call in a thread). False where not glibc."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim(0)
    return True
