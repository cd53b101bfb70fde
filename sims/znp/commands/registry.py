"""The MT command table: one handler per (subsystem, command id), registered by decorator.

A handler gets the simulator and a :class:`~sims.znp.wire.Reader` over the request payload.
For a synchronous request (SREQ) it returns the payload of the synchronous response (SRSP); asynchronous
requests (AREQ) return None. Callbacks the command causes are sent by the handler through the simulator and
always leave the wire after the SRSP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sims.znp.wire import Reader

if TYPE_CHECKING:
    from sims.znp.simulator import ZnpSimulator

Handler = Callable[["ZnpSimulator", Reader], bytes | None]

TABLE: dict[tuple[int, int], tuple[str, Handler]] = {}


def command(subsystem: int, cmd_id: int, name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        key = (int(subsystem), cmd_id)
        if key in TABLE:
            raise RuntimeError(f"MT command {key} registered twice")
        TABLE[key] = (name, fn)
        return fn

    return register
