"""Request bodies through the one JSON decoding path (:mod:`core.jsonin`), capped by ``[http]``.

A body that is too large answers 413 before it is read (by its ``Content-Length``, or by the server's own cap
while reading); one that is not JSON or nested too deeply answers 400. Refusals are logged (reason and a short
escaped prefix) and the log collapses repeats, so a flood of bad bodies cannot flood the journal.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from core import jsonin
from gateway.config import HttpSection
from gateway.logsetup import log_rejected

log = logging.getLogger(__name__)


async def read_json(request: web.Request, settings: HttpSection) -> Any:
    """The body decoded as JSON, or :class:`core.jsonin.JsonRejected` (``.status`` is 400 or 413)."""
    cap = settings.max_body_bytes
    raw: bytes | None = None
    try:
        if request.content_length is not None and request.content_length > cap:
            raise jsonin.JsonRejected("too_large", f"{request.content_length} bytes, at most {cap} accepted")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise jsonin.JsonRejected("too_large", f"more than {cap} bytes") from None
        return jsonin.loads(raw, max_bytes=cap, max_depth=settings.max_json_depth)
    except jsonin.JsonRejected as exc:
        log_rejected(log, f"http {request.method} {jsonin.excerpt(request.path, 80)}", exc.reason, exc.detail, raw)
        raise
