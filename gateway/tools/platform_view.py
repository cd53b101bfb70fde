"""A console stand-in for the county platform: prints what arrives, and notices gaps and duplicates."""

from __future__ import annotations

import asyncio
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
    where = f"{dev.get('room', '')}/{dev.get('id', '')}" if isinstance(dev, dict) else ""
    clock = ev.get("clock") or {}
    synced = "" if isinstance(clock, dict) and clock.get("synced") else " (clock unsynced)"
    data = json.dumps(ev.get("data"), ensure_ascii=False)
    if len(data) > 100:
        data = data[:97] + "..."
    line = f"#{ev.get('seq'):>6} {prio:<9} {ev.get('kind'):<28} {where:<28} {data}{synced}"
    return f"{_COLOURS.get(prio, '')}{line}{_RESET}" if colour else line


async def watch(
    broker: str, gateway: str = "+", out: TextIO = sys.stdout, stop: asyncio.Event | None = None
) -> dict[str, Tally]:
    """Subscribe to every gateway's events and status; print them until cancelled or ``stop`` is set."""
    url = urlsplit(broker)
    tallies: dict[str, Tally] = {}
    colour = out.isatty()
    try:
        await _watch_loop(url, broker, gateway, out, stop, tallies, colour)
    except asyncio.CancelledError:
        pass
    return tallies


async def _watch_loop(url, broker, gateway, out, stop, tallies, colour) -> None:  # type: ignore[no-untyped-def]
    unreachable = False
    last_status: dict[str, bytes] = {}
    while stop is None or not stop.is_set():
        try:
            async with aiomqtt.Client(
                url.hostname or "127.0.0.1", url.port or 1883, identifier="fbgw-platform-view", clean_session=False
            ) as client:
                await client.subscribe(f"{PREFIX}/{gateway}/#", qos=1)
                print(f"platform view: subscribed to {PREFIX}/{gateway}/# on {broker}", file=out, flush=True)
                unreachable = False
                async for msg in client.messages:
                    topic = str(msg.topic)
                    payload = bytes(msg.payload) if isinstance(msg.payload, bytes | bytearray) else b""
                    if topic.endswith("/status"):
                        if last_status.get(topic) != payload:  # a retained status comes again on resubscribe
                            print(f"[status] {topic}: {payload.decode(errors='replace')}", file=out, flush=True)
                        last_status[topic] = payload
                        continue
                    if not (topic.endswith("/alarms") or topic.endswith("/events")):
                        continue
                    try:
                        events = json.loads(payload)
                    except ValueError:
                        print(f"[bad payload on {topic}]", file=out, flush=True)
                        continue
                    for ev in events:
                        tally = tallies.setdefault(str(ev.get("gateway")), Tally())
                        if tally.add(int(ev.get("seq", -1))):
                            print(format_event(ev, colour), file=out, flush=True)
        except (aiomqtt.MqttError, OSError) as exc:
            if not unreachable:
                print(f"platform view: broker unreachable ({exc}); retrying every second", file=out, flush=True)
            unreachable = True
            await asyncio.sleep(1)
