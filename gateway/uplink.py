"""The uplink: drains the outbox to the platform's MQTT broker.

Two lanes read the outbox by cursor: alarms are published the moment they are committed, each lane with its own
window of QoS 1 messages in flight, so an alarm overtakes any backlog of ordinary events. A row is deleted from
the outbox only after the broker's PUBACK. On any connection failure the cursors restart from the oldest
unacknowledged row (at-least-once; the platform drops duplicates by event id). Reconnects back off
exponentially with jitter, but while an alarm is waiting the gateway retries every ``alarm_retry_s`` so the first
alarm after the broker returns goes out within about a second.

What a batch looks like on the wire, and what acknowledges it, is the profile's (``[uplink] profile``, see
:mod:`gateway.uplink_profiles`): fbgw's own topics, the ThingsBoard gateway API, or an HTTPS webhook (which has
no MQTT connection: no status, no subscriptions; :meth:`Uplink.publish` refuses topics a profile does not carry).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import ssl
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.signal import Signal, Unsubscribe
from gateway import __version__
from gateway.config import UplinkSection
from gateway.mqtt_inbound import InboundLanes, InboundLimits, lane_queue
from gateway.outbox import Outbox, Row
from gateway.registry import DeviceRegistry
from gateway.topics import Topics
from gateway.uplink_pacing import Pacer
from gateway.uplink_profiles import Carrier, DeliveryFailed, DeliveryRefused, make_profile

log = logging.getLogger(__name__)

MessageHandler = Callable[[aiomqtt.Message], Awaitable[None]]
ConnectHook = Callable[[], Awaitable[None]]

#: Extra in-flight slots kept for alarms so a full window of ordinary events never queues an alarm in the client.
_ALARM_SLOTS = 16
#: Room for the topic and MQTT 5 headers around an inbound payload of ``inbound_max_bytes``.
_PACKET_OVERHEAD = 4096


def inbound_limits(s: UplinkSection) -> InboundLimits:
    return InboundLimits(
        queue_messages=s.inbound_queue_messages,
        queue_bytes=s.inbound_queue_bytes,
        rate_per_s=s.inbound_rate_per_s,
        burst=s.inbound_burst,
        max_bytes=s.inbound_max_bytes,
    )


class UplinkUnavailable(RuntimeError):
    """Not connected to the broker right now."""


@dataclass(slots=True)
class UplinkStats:
    state: Literal["connecting", "online", "offline", "stopped"] = "connecting"
    connects: int = 0
    reconnects: int = 0
    published_messages: int = 0
    published_events: int = 0
    last_error: str | None = None
    online_since: float | None = None
    handler_errors: int = 0
    #: Connections aborted because an alarm went unacknowledged on a silent link (see ``alarm_stall_s``).
    stall_aborts: int = 0
    #: The ordinary events' byte budget on the wire (see :mod:`gateway.uplink_pacing`), this session.
    pacing_budget_bytes: int = 0
    #: The platform refused for good (webhook 4xx): the rows wait, retried at the longest backoff.
    permanent_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: The uplink keys that make up "connection settings" (changing one needs a trial connection, then a reconnect).
CONNECTION_KEYS = (
    "broker",
    "username",
    "password",
    "ca_file",
    "cert_file",
    "key_file",
    "profile",
    "thingsboard",
    "webhook",
)
#: The uplink keys that make up batching (read when a session starts).
BATCHING_KEYS = ("batch_max_events", "batch_max_bytes", "max_inflight_messages")


@dataclass(slots=True, frozen=True)
class _Paced:
    """What a send owes the pacer: the bytes it holds in flight, and since when."""

    pacer: Pacer | None
    size: int
    sent_at: float


def _reset_on_close(client: aiomqtt.Client) -> None:
    """Make the coming close of ``client``'s socket a reset (SO_LINGER 0): the kernel then drops what is still
    unsent instead of retransmitting it when the link returns, ahead of the next connection's alarm."""
    sock = client._client.socket()  # noqa: SLF001 - aiomqtt does not expose paho's socket
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def certificate_hint(settings: UplinkSection) -> str:
    """Why a TLS connection may have been refused that the broker does not say: the client certificate is
    outside its validity on this box's clock (a box without RTC may also have a wrong clock). Never refuses."""
    if not settings.tls or settings.cert_file is None:
        return ""
    from cryptography import x509  # only when diagnosing a failed TLS connection

    try:
        cert = x509.load_pem_x509_certificate(settings.cert_file.read_bytes())
    except (OSError, ValueError) as exc:
        return f" (client certificate {settings.cert_file.name} unreadable: {exc})"
    now = datetime.now(UTC)
    if now > cert.not_valid_after_utc:
        return f" (client certificate {settings.cert_file.name} expired on {cert.not_valid_after_utc:%Y-%m-%d})"
    if now < cert.not_valid_before_utc:
        when = f"{cert.not_valid_before_utc:%Y-%m-%d}"
        return f" (client certificate {settings.cert_file.name} not valid before {when}: is the clock right?)"
    return ""


class Uplink:
    """Owns the MQTT connection. Run :meth:`run` as a long-lived task; :meth:`close` ends it cleanly."""

    def __init__(
        self,
        settings: UplinkSection,
        gateway_id: str,
        outbox: Outbox,
        registry: DeviceRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.gateway_id = gateway_id
        self.topics = Topics(gateway_id)
        self.outbox = outbox
        self.registry = registry  # device names for profiles that need them (ThingsBoard)
        #: The wire format; rebuilt from the settings when a session starts.
        self.profile = make_profile(settings, gateway_id, registry)
        #: Rows the broker acknowledged (PUBACK); the alarm lifecycle marks alarms sent from it.
        self.delivered: Signal[Sequence[Row]] = Signal("uplink.delivered")
        #: ``True`` when a session starts, ``False`` when it ends (local feedback: calls cannot get through).
        self.state_changed: Signal[bool] = Signal("uplink.state")
        self.stats = UplinkStats()
        self._handlers: list[tuple[str, MessageHandler]] = []
        self._connect_hooks: list[ConnectHook] = []
        self._client: aiomqtt.Client | None = None
        self._closing = False
        self._wake_reconnect = asyncio.Event()
        self._live_subscribes: set[asyncio.Task[None]] = set()
        #: When each alarm message now in flight was handed over, and when anything was last acknowledged.
        self._alarms_in_flight: dict[int, float] = {}
        self._progress_at = 0.0
        #: Permanent refusals by where they happened ("session", "alarms", "events"), until that part succeeds.
        self._refused: dict[str, str] = {}
        #: Bounded, rate-limited lanes per subscribed topic (see gateway.mqtt_inbound); they outlive a session.
        self.inbound = InboundLanes(inbound_limits(settings))

    # ------------------------------------------------------------ public API for other modules

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Receive messages on ``topic_filter`` (QoS 1) for as long as the gateway runs, across reconnects
        (while the profile carries it)."""
        self._handlers.append((topic_filter, handler))
        name = topic_filter.removeprefix(self.topics.base + "/")
        self.inbound.add(topic_filter, name, first=topic_filter == self.topics.alarm_ack)
        client = self._client
        carried = self.profile.carries(topic_filter)
        if client is not None and self.connected and carried:  # already online: subscribe this session too
            task = asyncio.get_running_loop().create_task(self._subscribe_live(client, topic_filter))
            self._live_subscribes.add(task)
            task.add_done_callback(self._live_subscribes.discard)

    async def subscriptions_settled(self) -> None:
        """Wait until subscriptions made on the live session are confirmed (or have failed; reconnects retry)."""
        if self._live_subscribes:
            await asyncio.wait(list(self._live_subscribes))

    async def _subscribe_live(self, client: aiomqtt.Client, topic_filter: str) -> None:
        with contextlib.suppress(aiomqtt.MqttError):  # the next (re)connect subscribes anyway
            await client.subscribe(topic_filter, qos=1, timeout=self.settings.puback_timeout_s)

    def on_connect(self, hook: ConnectHook) -> Unsubscribe:
        """Run ``hook`` after every (re)connect, e.g. to republish a retained report; returns its undo."""
        self._connect_hooks.append(hook)

        def unsubscribe() -> None:
            if hook in self._connect_hooks:
                self._connect_hooks.remove(hook)

        return unsubscribe

    @property
    def connected(self) -> bool:
        return self.stats.state == "online" and (self._client is not None or not self.profile.mqtt)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout: float | None = None
    ) -> None:
        """Publish outside the outbox (reports, command results). Raises :class:`UplinkUnavailable` offline."""
        client = self._client
        if client is None or not self.connected:
            raise UplinkUnavailable("not connected to the broker")
        if not self.profile.carries(topic):
            raise UplinkUnavailable(f"the {self.profile.name} profile does not carry {topic}")
        await client.publish(topic, payload, qos=qos, retain=retain, timeout=timeout or self.settings.puback_timeout_s)

    def apply_settings(self, new: UplinkSection) -> None:
        """Run with ``new`` settings. Connection and batching keys are read when a session starts, so a change
        of one of them reconnects at once; anything else takes effect in place."""
        if any(getattr(self.settings, key) != getattr(new, key) for key in CONNECTION_KEYS + BATCHING_KEYS):
            self.reconnect_now(new)
        else:
            self.settings = new

    def reconnect_now(self, settings: UplinkSection | None = None) -> None:
        """Drop the connection and reconnect at once (optionally with new connection settings)."""
        if settings is not None:
            self.settings = settings
            self.inbound.configure(inbound_limits(settings))
        self._wake_reconnect.set()

    # ------------------------------------------------------------ connection loop

    def _status(self, state: str, **extra: Any) -> bytes:
        body = {"state": state, "gateway": self.gateway_id, "version": __version__, "ts": int(time.time() * 1000)}
        body.update(extra)
        return json.dumps(body, separators=(",", ":")).encode()

    def _make_client(self) -> aiomqtt.Client:
        s = self.settings
        tls_context = None
        if s.tls:
            tls_context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
            # Chain, expiry and host name are checked as always; Python 3.13's extra RFC 5280 strictness is
            # not: county CAs made with older tools omit extensions it requires (Authority Key Identifier).
            tls_context.verify_flags &= ~ssl.VERIFY_X509_STRICT
            if s.cert_file:
                tls_context.load_cert_chain(str(s.cert_file), str(s.key_file) if s.key_file else None)
        will = None
        if self.profile.carries(self.topics.status):
            will = aiomqtt.Will(
                self.topics.status, self._status("offline", reason="connection lost"), qos=1, retain=True
            )
        common: dict[str, Any] = {
            "username": s.username,
            "password": s.password,
            "identifier": s.client_id or f"fbgw-{self.gateway_id}",
            "will": will,
            "keepalive": s.keepalive_s,
            "timeout": s.connect_timeout_s,
            "max_inflight_messages": s.max_inflight_messages + _ALARM_SLOTS,
            "tls_context": tls_context,
            # A half-open connection (a black hole on the way) with data unacknowledged this long is aborted by
            # the kernel: without it, leaving a dead session waits a further `timeout` for a clean DISCONNECT.
            "socket_options": [(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(s.puback_timeout_s * 1000))],
            "queue_type": lane_queue(self.inbound),
        }
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
            # The broker must not send us anything larger (the topic name and headers need a little room).
            props.MaximumPacketSize = s.inbound_max_bytes + _PACKET_OVERHEAD
            # At most this many QoS 1 messages from the broker unacknowledged at once: a flood then cannot pile up
            # in the socket ahead of the PUBACKs for our own alarms.
            props.ReceiveMaximum = s.inbound_queue_messages
            return aiomqtt.Client(
                s.host, s.port, protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=props, **common
            )
        return aiomqtt.Client(s.host, s.port, protocol=aiomqtt.ProtocolVersion.V311, clean_session=False, **common)

    async def run(self) -> None:
        """Connect, drain, reconnect: forever, until :meth:`close`."""
        delay = self.settings.backoff_initial_s
        while not self._closing:
            self.stats.state = "connecting"
            self._wake_reconnect.clear()
            self.profile = make_profile(self.settings, self.gateway_id, self.registry)
            try:
                if self.profile.mqtt:
                    async with self._make_client() as client:
                        await self._session(client, self.profile.mqtt_carrier(client, self.settings))
                else:
                    async with self.profile.open(self.settings) as carrier:
                        await self._session(None, carrier)
            except* (aiomqtt.MqttError, OSError, ssl.SSLError, DeliveryFailed) as group:
                exc = group.exceptions[0]
                if isinstance(exc, DeliveryRefused):  # the session itself was refused (webhook hello)
                    self._refusal("session", str(exc))
                    delay = self.settings.backoff_max_s
                if not self._closing:
                    connected = self.stats.online_since is not None
                    hint = "" if connected or not self.profile.mqtt else certificate_hint(self.settings)
                    self.stats.last_error = f"{type(exc).__name__}: {exc}{hint}"
                    log.warning("uplink: connection to %s lost or failed: %s%s", self.endpoint, exc, hint)
            finally:
                was_online = self.stats.online_since is not None
                self._client = None
                self.stats.online_since = None
            if was_online:
                self.state_changed.emit(False)
            if self._closing:
                break
            self.stats.state = "offline"
            self.stats.reconnects += 1
            if was_online and "session" not in self._refused:
                delay = self.settings.backoff_initial_s
            await self._backoff(delay)
            delay = min(delay * 2, self.settings.backoff_max_s)
        self.stats.state = "stopped"

    async def _backoff(self, delay: float) -> None:
        """Sleep ``delay`` with full jitter; cut short to ``alarm_retry_s`` whenever an alarm is waiting."""
        deadline = time.monotonic() + random.uniform(delay / 2, delay)
        while not self._closing and not self._wake_reconnect.is_set():
            if self.outbox.stats.alarms > 0 and "session" not in self._refused:
                fast = time.monotonic() + self.settings.alarm_retry_s * random.uniform(0.8, 1.0)
                deadline = min(deadline, fast)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.outbox.alarm_ready.clear()
            waiters = [
                asyncio.ensure_future(self.outbox.alarm_ready.wait()),
                asyncio.ensure_future(self._wake_reconnect.wait()),
            ]
            try:
                await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()

    @property
    def endpoint(self) -> str:
        """Where the profile delivers to (for logs and status): the broker, or the webhook's URL."""
        if self.profile.mqtt:
            return self.settings.broker
        return self.settings.webhook.url or ""

    async def _session(self, client: aiomqtt.Client | None, carrier: Carrier) -> None:
        """One connection: ``client`` is None for a profile that is not MQTT (the carrier is all there is)."""
        self._client = client
        self.stats.state = "online"
        self.stats.connects += 1
        self.stats.online_since = time.time()
        self.stats.last_error = None
        self._refusal("session", None)
        log.info("uplink: connected to %s (profile %s)", self.endpoint, self.profile.name)
        self.state_changed.emit(True)
        self._alarms_in_flight.clear()
        self._progress_at = time.monotonic()
        async with asyncio.TaskGroup() as tg:
            # The lanes start at once: on a slow or distant link the status and subscription round trips would
            # otherwise hold the first alarm after a reconnect back by several RTTs.
            alarms_handed = asyncio.Event()  # after a reconnect, waiting alarms go to the carrier before any backlog
            tg.create_task(self._lane(carrier, tg, alarms_handed, alarms=True), name="uplink-alarms")
            tg.create_task(self._lane(carrier, tg, alarms_handed, alarms=False), name="uplink-events")
            if client is not None:
                tg.create_task(self._receive(client), name="uplink-receive")
            tg.create_task(self._announce(client), name="uplink-announce")
            tg.create_task(self._watch_reconnect(), name="uplink-reconnect-watch")
            tg.create_task(self._watch_alarm_stall(client), name="uplink-stall-watch")

    async def _announce(self, client: aiomqtt.Client | None) -> None:
        """Say online (retained), subscribe, then run the on-connect hooks (they may rely on the subscriptions)."""
        if client is not None and self.profile.carries(self.topics.status):
            await client.publish(
                self.topics.status, self._status("online"), qos=1, retain=True, timeout=self.settings.puback_timeout_s
            )
        for topic_filter, _ in self._handlers:
            if client is not None and self.profile.carries(topic_filter):
                await client.subscribe(topic_filter, qos=1)
        await self._hooks()

    async def _watch_reconnect(self) -> None:
        await self._wake_reconnect.wait()
        raise aiomqtt.MqttError("reconnect requested")

    async def _watch_alarm_stall(self, client: aiomqtt.Client | None) -> None:
        """End the session when an alarm waits ``alarm_stall_s`` on a link that acknowledged nothing meanwhile.

        The keepalive takes up to two periods to notice a black hole, and the PUBACK timeout is sized for a
        backlog; an alarm cannot wait that long. The socket is reset rather than closed: a close would leave
        the backlog ahead of the alarm in the kernel, delivered first if the link comes back."""
        limit = self.settings.alarm_stall_s
        while True:
            await asyncio.sleep(limit / 4)
            now = time.monotonic()
            oldest = min(self._alarms_in_flight.values(), default=now)
            if now - oldest >= limit and now - self._progress_at >= limit:
                self.stats.stall_aborts += 1
                if client is not None:
                    _reset_on_close(client)
                raise aiomqtt.MqttError(f"an alarm unacknowledged for {limit:g} s on a silent link: reconnecting")

    async def _hooks(self) -> None:
        for hook in self._connect_hooks:
            try:
                await hook()
            except (aiomqtt.MqttError, UplinkUnavailable) as exc:
                log.warning("uplink: on-connect hook failed: %s", exc)

    async def _lane(
        self, carrier: Carrier, tg: asyncio.TaskGroup, alarms_handed: asyncio.Event, *, alarms: bool
    ) -> None:
        ready = self.outbox.alarm_ready if alarms else self.outbox.event_ready
        window = asyncio.Semaphore(_ALARM_SLOTS if alarms else self.settings.max_inflight_messages)
        if self.profile.sequential:
            window = asyncio.Semaphore(1)
        pacer = None
        if not alarms:
            pacer = Pacer(self.settings.batch_max_bytes * self.settings.max_inflight_messages)
            self.stats.pacing_budget_bytes = pacer.stats.budget_bytes
        cursor = 0
        if not alarms:  # on a slow link a backlog message sent first would hold the alarms behind it for seconds
            await alarms_handed.wait()
        while True:
            s = self.settings  # batching may be changed remotely while connected
            limit = 1000 if alarms else s.batch_max_events
            max_bytes = s.batch_max_bytes if pacer is None else pacer.batch_bytes(s.batch_max_bytes)
            ready.clear()  # clear before reading: a commit after this point wakes us again
            rows = await self.outbox.fetch(alarms, cursor, limit, max_bytes)
            if not rows:
                alarms_handed.set()
                await ready.wait()
                continue
            cursor = rows[-1].seq
            await window.acquire()
            size = sum(len(r.body) for r in rows)
            sent_at = time.monotonic() if pacer is None else await pacer.reserve(size)
            tg.create_task(self._send(carrier, rows, window, alarms, _Paced(pacer, size, sent_at)))
            alarms_handed.set()  # the send task runs (and hands its message over) before the event lane wakes

    async def _send(
        self, carrier: Carrier, rows: list[Row], window: asyncio.Semaphore, alarms: bool, paced: _Paced
    ) -> None:
        # Not acknowledged (a missing PUBACK, an HTTP error): it raises, the session ends and we reconnect.
        # Refused for good: the rows stay, it is reported, and tried again at the longest backoff without
        # ending the session, so a refused backlog never holds up the other lane (alarms).
        lane = "alarms" if alarms else "events"
        token = rows[0].seq
        delivered = False
        try:
            while True:
                if alarms:
                    self._alarms_in_flight[token] = time.monotonic()
                try:
                    await carrier.deliver(rows, alarms=alarms)
                    break
                except DeliveryRefused as exc:
                    # The platform answered: the link is alive, and the alarm is not waiting on it meanwhile.
                    self._progress_at = time.monotonic()
                    self._alarms_in_flight.pop(token, None)
                    self._refusal(lane, str(exc))
                    log.error(
                        "uplink: %s refused by the platform (kept, retried in %g s): %s",
                        lane,
                        self.settings.backoff_max_s,
                        exc,
                    )
                    await asyncio.sleep(self.settings.backoff_max_s)
            delivered = True
        finally:
            window.release()
            self._alarms_in_flight.pop(token, None)
            if paced.pacer is not None:
                if delivered:
                    paced.pacer.acked(paced.size, paced.sent_at)
                else:
                    paced.pacer.release(paced.size)
                self.stats.pacing_budget_bytes = paced.pacer.stats.budget_bytes
        self._progress_at = time.monotonic()
        self._refusal(lane, None)
        self.stats.published_messages += 1
        self.stats.published_events += len(rows)
        # Ordinary events' deletes wait to ride in the next commit (one write less per event on the SD card);
        # an alarm's row goes at once, so the count of alarms waiting stays exact.
        self.outbox.ack((r.seq for r in rows), defer=not alarms)
        self.delivered.emit(rows)

    def _refusal(self, where: str, error: str | None) -> None:
        """Record (or clear) a permanent refusal; ``stats.permanent_error`` says all that are current."""
        if error is None:
            self._refused.pop(where, None)
        else:
            self._refused[where] = error
        self.stats.permanent_error = "; ".join(f"{k}: {v}" for k, v in sorted(self._refused.items())) or None

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if not self.profile.carries(str(message.topic)):
                continue  # a persistent session may still hold another profile's subscriptions
            for topic_filter, handler in self._handlers:
                if message.topic.matches(topic_filter):
                    try:
                        await handler(message)
                    except Exception:  # a handler bug must not take the uplink down; it is logged and counted
                        self.stats.handler_errors += 1
                        log.exception("uplink: handler for %s failed", message.topic)

    async def close(self, timeout: float = 3.0) -> None:
        """Say offline (retained) and disconnect cleanly."""
        self._closing = True
        client = self._client
        if client is not None and self.stats.state == "online" and self.profile.carries(self.topics.status):
            with contextlib.suppress(aiomqtt.MqttError, asyncio.TimeoutError):
                await client.publish(
                    self.topics.status, self._status("offline", reason="shutdown"), qos=1, retain=True, timeout=timeout
                )
        self._wake_reconnect.set()
