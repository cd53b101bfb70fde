"""Sessions, CSRF tokens and sign-in rate limiting for the technician's page.

Sessions live in memory only: a reboot signs everyone out, which is what an installer expects from a box
that was just power-cycled. The cookie carries a random token; the server keeps the rest. Each session has
its own CSRF token, sent back by the page in the ``X-CSRF-Token`` header or the ``_csrf`` form field.
Before sign-in, the login form is protected by a double-submit token (a cookie and a form field that must
match).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_COOKIE = "fbgw_session"
PRELOGIN_COOKIE = "fbgw_prelogin"
LANG_COOKIE = "fbgw_lang"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "_csrf"
MAX_SESSIONS = 32


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(a: str | None, b: str | None) -> bool:
    """Constant-time compare of two tokens; a missing token never matches."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(slots=True)
class Session:
    token: str
    csrf: str
    created: float
    expires: float
    peer: str


@dataclass(slots=True)
class Sessions:
    """Signed-in sessions, by cookie token. ``now`` is injectable for tests."""

    lifetime_s: float
    now: Callable[[], float] = time.monotonic
    _by_token: dict[str, Session] = field(default_factory=dict)

    def _clock(self) -> float:
        return self.now()

    def create(self, peer: str) -> Session:
        self._expire()
        if len(self._by_token) >= MAX_SESSIONS:  # drop the oldest rather than grow without bound
            oldest = min(self._by_token.values(), key=lambda s: s.created)
            del self._by_token[oldest.token]
        t = self._clock()
        session = Session(new_token(), new_token(), t, t + self.lifetime_s, peer)
        self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None:
            return None
        if session.expires <= self._clock():
            del self._by_token[token]
            return None
        return session

    def end(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

    def end_all(self) -> None:
        self._by_token.clear()

    def __len__(self) -> int:
        self._expire()
        return len(self._by_token)

    def _expire(self) -> None:
        t = self._clock()
        for token in [k for k, s in self._by_token.items() if s.expires <= t]:
            del self._by_token[token]


def client_key(peer: str) -> str:
    """Whom failures are counted against: an IPv4 address, or an IPv6 /64 (one home's prefix), so one phone
    cannot hop between its own IPv6 addresses to get fresh attempts."""
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(slots=True)
class LoginLimiter:
    """Counts failed sign-ins per client and in total over a sliding window.

    A client that failed ``per_peer`` times waits. When all clients together failed ``total`` times (someone on
    the Wi-Fi is guessing from many addresses), every client *with a failure in the window* waits too, but a
    client with no failures is never held back: the technician typing the right code on their own phone gets
    in however much noise others make. A guesser gains at most one attempt per fresh address per window.

    ``retry_after(peer)`` is 0 when the client may try again, else the seconds to wait. An attempt is counted
    by :meth:`begin` *before* its code is checked (the check is slow and awaited), so parallel attempts from
    one client cannot all pass the limit while the first ones are still being checked; :meth:`succeeded`
    takes a right code's attempt back.
    """

    per_peer: int
    total: int
    window_s: float
    now: Callable[[], float] = time.monotonic
    _peer: dict[str, deque[float]] = field(default_factory=dict)
    _all: deque[float] = field(default_factory=deque)

    def _clock(self) -> float:
        return self.now()

    def _trim(self, q: deque[float], t: float) -> None:
        while q and q[0] <= t - self.window_s:
            q.popleft()

    def retry_after(self, peer: str) -> float:
        t = self._clock()
        self._trim(self._all, t)
        q = self._peer.get(client_key(peer))
        if q is not None:
            self._trim(q, t)
            if not q:
                del self._peer[client_key(peer)]
                q = None
        if q is None:  # no failures: never held back, not even by the global ceiling
            return 0.0
        waits = []
        if len(q) >= self.per_peer:
            waits.append(q[0] + self.window_s - t)
        if len(self._all) >= self.total:
            # free again when its own failures age out, or when the total drops under the ceiling
            under = self._all[len(self._all) - self.total]
            waits.append(min(q[-1], under) + self.window_s - t)
        return max(waits, default=0.0)

    def begin(self, peer: str) -> float:
        """Count an attempt as failed until told otherwise; returns its time, for :meth:`succeeded`.

        Call it right after ``retry_after(peer) == 0``, with no ``await`` in between."""
        self.failed(peer)
        return self._all[-1]

    def failed(self, peer: str) -> None:
        t = self._clock()
        key = client_key(peer)
        if len(self._peer) > 4096 and key not in self._peer:  # bounded memory under a spray of addresses
            self._peer.clear()
        self._peer.setdefault(key, deque()).append(t)
        self._all.append(t)

    def succeeded(self, peer: str, attempt: float | None = None) -> None:
        """A right code: the client's failures are forgotten and the attempt ``begin`` counted is taken back."""
        self._peer.pop(client_key(peer), None)
        if attempt is not None:
            with contextlib.suppress(ValueError):  # already slid out of the window
                self._all.remove(attempt)
