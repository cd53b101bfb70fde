"""A console stand-in for the county platform: prints what arrives, and notices gaps and duplicates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import urlsplit

import aiomqtt

from gateway.topics import PREFIX

_COLOURS = {"alarm": "\033[1;31m", "alert": "\033[33m", "state": "\033[36m", "telemetry": "\033[2m"}
_RESET = "\033[0m"


@dataclass
class Tally:
    """Per-gateway sequence bookkeeping: what the platform would use to spot gaps and duplicates."""

    seen: set[int] = field(default_factory=set)
    duplicates: int = 0

    def add(self, seq: int) -> bool:
        if seq in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(seq)
        return True

    def gaps(self) -> list[int]:
        if not self.seen:
            return []
        return sorted(set(range(min(self.seen), max(self.seen) + 1)) - self.seen)


def format_event(ev: dict[str, object], colour: bool) -> str:
    prio = str(ev.get("priority"))
    dev = ev.get("device") or {}
    where = f"{dev.get('room', '')}/{dev.get('id', '')}" if isinstance(dev, dict) and dev else "(home)"
    clock = ev.get("clock") or {}
    synced = "" if isinstance(clock, dict) and clock.get("synced") else " (clock unsynced)"
    data = json.dumps(ev.get("data"), ensure_ascii=False)
    if len(data) > 100:
        data = data[:97] + "..."
    line = f"#{ev.get('seq'):>6} {prio:<9} {ev.get('kind'):<28} {where:<28} {data}{synced}"
    return f"{_COLOURS.get(prio, '')}{line}{_RESET}" if colour else line


def _summary(topic: str, payload: bytes) -> str:
    """One line for a config report or a command result (what an operator looks at)."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return f"[bad payload on {topic}]"
    if not isinstance(doc, dict):
        return f"[bad payload on {topic}]"
    reason = f" ({doc.get('reason')})" if doc.get("reason") else ""
    if topic.endswith("/config/reported"):
        return f"[config] version {doc.get('version')}: {doc.get('state')}{reason}"
    return f"[cmd] {doc.get('cmd')} {doc.get('id')}: {doc.get('status')}{reason}"


async def watch(
    broker: str,
    gateway: str = "+",
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
    ack_calls_after_s: float | None = None,
) -> dict[str, Tally]:
    """Subscribe to every gateway's events and status; print them until cancelled or ``stop`` is set.

    ``ack_calls_after_s``: play the operator and acknowledge each emergency call that long after it arrives.
    """
    view = PlatformView(broker, gateway, out, ack_calls_after_s)
    with contextlib.suppress(asyncio.CancelledError):
        await view.run(stop)
    return view.tallies


class PlatformView:
    """The console platform: prints events, counts gaps and duplicates, optionally acknowledges calls."""

    def __init__(self, broker: str, gateway: str, out: TextIO, ack_calls_after_s: float | None) -> None:
        self.url = urlsplit(broker)
        self.broker = broker
        self.gateway = gateway
        self.out = out
        self.colour = out.isatty()
        self.ack_calls_after_s = ack_calls_after_s
        self.tallies: dict[str, Tally] = {}
        self._last_status: dict[str, bytes] = {}
        self._acks: set[asyncio.Task[None]] = set()

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def run(self, stop: asyncio.Event | None) -> None:
        unreachable = False
        while stop is None or not stop.is_set():
            try:
                async with aiomqtt.Client(
                    self.url.hostname or "127.0.0.1",
                    self.url.port or 1883,
                    identifier="fbgw-platform-view",
                    clean_session=False,
                ) as client:
                    await client.subscribe(f"{PREFIX}/{self.gateway}/#", qos=1)
                    self._print(f"platform view: subscribed to {PREFIX}/{self.gateway}/# on {self.broker}")
                    unreachable = False
                    async for msg in client.messages:
                        payload = bytes(msg.payload) if isinstance(msg.payload, bytes | bytearray) else b""
                        self._message(client, str(msg.topic), payload)
            except (aiomqtt.MqttError, OSError) as exc:
                if not unreachable:
                    self._print(f"platform view: broker unreachable ({exc}); retrying every second")
                unreachable = True
                await asyncio.sleep(1)

    def _message(self, client: aiomqtt.Client, topic: str, payload: bytes) -> None:
        if topic.endswith("/status"):
            if self._last_status.get(topic) != payload:  # a retained status comes again on resubscribe
                self._print(f"[status] {topic}: {payload.decode(errors='replace')}")
            self._last_status[topic] = payload
            return
        if topic.endswith("/config/reported") or topic.endswith("/cmd/result"):
            if self._last_status.get(topic) != payload:  # a retained report comes again on every reconnect
                self._print(_summary(topic, payload))
            self._last_status[topic] = payload
            return
        if not (topic.endswith("/alarms") or topic.endswith("/events")):
            return
        try:
            events = json.loads(payload)
        except ValueError:
            self._print(f"[bad payload on {topic}]")
            return
        for ev in events:
            tally = self.tallies.setdefault(str(ev.get("gateway")), Tally())
            if tally.add(int(ev.get("seq", -1))):
                self._print(format_event(ev, self.colour))
                if ev.get("kind") == "alarm.emergency_call" and self.ack_calls_after_s is not None:
                    task = asyncio.create_task(self._ack(client, ev))
                    self._acks.add(task)
                    task.add_done_callback(self._acks.discard)

    async def _ack(self, client: aiomqtt.Client, ev: dict[str, object]) -> None:
        assert self.ack_calls_after_s is not None
        await asyncio.sleep(self.ack_calls_after_s)
        body = {"alarm": ev["id"], "action": "ack", "by": "console-operator", "note": "help is on the way"}
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(f"{PREFIX}/{ev['gateway']}/alarms/ack", json.dumps(body).encode(), qos=1)
            self._print(f"[platform] operator acknowledges call {ev['id']}")
