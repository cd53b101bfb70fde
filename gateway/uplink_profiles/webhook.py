"""The ``webhook`` profile: each batch is one HTTPS POST of a JSON array of events, signed with HMAC-SHA256.

The body is exactly what the native profile publishes (the stored event bodies, joined, never re-encoded), so a
platform can switch between the two with the same parser. Headers:

- ``X-Fbgw-Timestamp``: Unix seconds when the request was signed;
- ``X-Fbgw-Signature``: ``sha256=`` + hex HMAC-SHA256 over ``<timestamp>.<body>`` with the shared secret;
- ``X-Fbgw-Gateway``: the gateway id; ``X-Fbgw-Lane``: ``alarms`` or ``events``.

A 2xx deletes the rows. A 408, 429, 5xx, a timeout or a connection error ends the session and the batch is
sent again after the backoff (alarms retry within about a second). Any other 4xx (or a 3xx) is a permanent
refusal: it is reported in the status and the heartbeat (``permanent_error``), the rows stay in the outbox and
the request is retried at the longest backoff, since only a change on the platform or in the config can fix it;
the other lane goes on meanwhile (a refused backlog never holds up an alarm).
Each session starts with a POST of an empty array ``[]``, which tells that the receiver answers (and is the
trial a pushed profile change must pass).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

import aiohttp

from gateway import __version__
from gateway.outbox import Row, bodies_to_payload
from gateway.uplink_profiles.base import DeliveryFailed, DeliveryRefused

if TYPE_CHECKING:
    import aiomqtt

    from gateway.config import UplinkSection, WebhookSection
    from gateway.uplink_profiles.base import Carrier

SIGNATURE = "X-Fbgw-Signature"
TIMESTAMP = "X-Fbgw-Timestamp"
GATEWAY = "X-Fbgw-Gateway"
LANE = "X-Fbgw-Lane"
#: Statuses that mean "not now" rather than "never".
RETRYABLE_4XX = (408, 429)
#: Most characters of a refusal's body kept for the status (escaped).
_DETAIL_CHARS = 120


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Fbgw-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookCarrier:
    def __init__(self, session: aiohttp.ClientSession, settings: WebhookSection, gateway_id: str) -> None:
        self.session, self.settings, self.gateway_id = session, settings, gateway_id

    async def post(self, body: bytes, lane: str) -> None:
        s = self.settings
        assert s.url is not None and s.secret is not None  # the config refuses the profile without them
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP: timestamp,
            SIGNATURE: sign(s.secret, timestamp, body),
            GATEWAY: self.gateway_id,
            LANE: lane,
        }
        try:
            async with self.session.post(s.url, data=body, headers=headers, allow_redirects=False) as resp:
                text = (await resp.text(errors="replace"))[:_DETAIL_CHARS]
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryFailed(f"POST {lane}: {type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return
        detail = f"HTTP {status} from {s.url}: {text!r}"
        if status >= 500 or status in RETRYABLE_4XX:
            raise DeliveryFailed(detail)
        raise DeliveryRefused(detail)

    async def deliver(self, rows: Sequence[Row], *, alarms: bool) -> None:
        await self.post(bodies_to_payload(rows), "alarms" if alarms else "events")


class WebhookProfile:
    name = "webhook"
    mqtt = False
    sequential = True

    def __init__(self, settings: WebhookSection, gateway_id: str) -> None:
        self.settings, self.gateway_id = settings, gateway_id

    def carries(self, topic: str) -> bool:
        return False

    def mqtt_carrier(self, client: aiomqtt.Client, settings: UplinkSection) -> Carrier:
        raise NotImplementedError("the webhook profile does not use MQTT")

    @contextlib.asynccontextmanager
    async def open(self, settings: UplinkSection) -> AsyncIterator[Carrier]:
        s = self.settings
        tls = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        # As for the MQTT uplink: chain, expiry and host name are checked, Python 3.13's extra RFC 5280
        # strictness is not (county CAs made with older tools omit extensions it requires).
        tls.verify_flags &= ~ssl.VERIFY_X509_STRICT
        timeout = aiohttp.ClientTimeout(total=s.timeout_s)
        connector = aiohttp.TCPConnector(ssl=tls, limit=4)
        headers = {"User-Agent": f"fbgw/{__version__}"}
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, headers=headers) as session:
            carrier = WebhookCarrier(session, s, self.gateway_id)
            await carrier.post(b"[]", "hello")
            yield carrier
