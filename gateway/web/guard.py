"""Who may do what on the HTTP server: sign-in, CSRF and security headers, as aiohttp middlewares.

- Static files and the sign-in/language pages are public.
- The core endpoints keep their contract: ``GET /api/devices`` and ``GET /api/status`` answer a loopback peer
  without sign-in (rigs, benchmarks); from elsewhere they need a session. ``POST /api/sim/readings`` checks
  for itself that it is loopback-only.
- Everything else needs a session: pages redirect to ``/login``, the API answers 401.
- Every state-changing request needs the session's CSRF token (header ``X-CSRF-Token`` or form field
  ``_csrf``) and, when the browser sends one, an ``Origin`` that is this server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from gateway.web.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Session, tokens_match
from gateway.web.body import read_form
from gateway.web.service import TechnicianService

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PUBLIC = frozenset({"/login", "/lang", "/favicon.ico"})
LOOPBACK_OPEN = frozenset(
    {
        ("GET", "/api/devices"),
        ("GET", "/api/status"),
        ("HEAD", "/api/devices"),
        ("HEAD", "/api/status"),
        ("POST", "/api/sim/readings"),
    }
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_KEY: web.RequestKey[Session] = web.RequestKey("fbgw.session", Session)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)


def is_loopback_peer(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def json_error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def session_of(request: web.Request) -> Session:
    session = request.get(SESSION_KEY)
    assert isinstance(session, Session), "route not behind the sign-in guard"
    return session


def _origin_ok(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser, or a same-origin GET-style navigation
        return True
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc == request.host


def make_guard(svc: TechnicianService) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/static/") or path in PUBLIC:
            return await handler(request)
        if (request.method, path) in LOOPBACK_OPEN and is_loopback_peer(request):
            return await handler(request)
        is_api = path.startswith("/api/")
        session = svc.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None or not svc.window.is_open:
            if is_api or request.method not in SAFE_METHODS:
                return json_error(401, "sign in first (the install window must be open)")
            raise web.HTTPSeeOther("/login")
        if request.method not in SAFE_METHODS:
            if not _origin_ok(request):
                return json_error(403, "cross-site request refused (Origin does not match this gateway)")
            token = request.headers.get(CSRF_HEADER)
            if token is None and request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await read_form(request)
                if form is None:
                    return json_error(400, "the form could not be read")
                value = form.get(CSRF_FIELD)
                token = value if isinstance(value, str) else None
            if not tokens_match(token, session.csrf):
                return json_error(403, "missing or wrong CSRF token; reload the page")
        request[SESSION_KEY] = session
        return await handler(request)

    return guard


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the page may only load its own scripts, and may not be framed."""
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")  # no-referrer would make form posts send Origin: null
    h.setdefault("X-Frame-Options", "DENY")
    if response.content_type == "text/html":
        h.setdefault("Content-Security-Policy", CSP)
    if not request.path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")
