"""A :class:`gateway.context.ServiceContext` made of fakes, so a service runs with no broker and no Gateway.

The pieces a service reaches through the context are small: signals (real :class:`core.signal.Signal`),
an uplink that records what would be published, an ``emit`` that stamps drafts as the outbox would and keeps
them, and the real rule engine on a fake clock (it is plain code over a state directory).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.events import Event, EventDraft, make_event
from core.signal import Signal, Unsubscribe
from drivers.base import PairingUpdate
from gateway.config import Config
from gateway.context import ServiceContext
from gateway.outbox import Row
from gateway.registry import DeviceRegistry
from gateway.rules.engine import RuleEngine
from gateway.topics import Topics
from gateway.uplink import MessageHandler, UplinkStats
from tests.rules.support import FakeClock
from tests.support.gateway import make_config


class FakeUplink:
    """What services use of the uplink: connected, topics, subscribe, publish, on_connect, the two signals."""

    def __init__(self, gateway_id: str) -> None:
        self.topics = Topics(gateway_id)
        self.connected = True
        self.stats = UplinkStats(state="online")
        self.delivered: Signal[Sequence[Row]] = Signal("uplink.delivered")
        self.state_changed: Signal[bool] = Signal("uplink.state")
        self.handlers: dict[str, MessageHandler] = {}
        self.published: list[tuple[str, bytes, bool]] = []
        self.hooks: list[Any] = []

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        self.handlers[topic_filter] = handler

    async def subscriptions_settled(self) -> None:
        return None

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout: float | None = None
    ) -> None:
        self.published.append((topic, payload, retain))

    def on_connect(self, hook: Any) -> Unsubscribe:
        self.hooks.append(hook)
        return lambda: self.hooks.remove(hook)

    def go(self, online: bool) -> None:
        """The broker connection starts (True) or ends (False)."""
        self.connected = online
        self.stats.state = "online" if online else "offline"
        self.state_changed.emit(online)


@dataclass
class FakeCore:
    """Everything a test may look at after driving a service through its context."""

    ctx: ServiceContext
    clock: FakeClock
    uplink: FakeUplink
    rules: RuleEngine
    emitted: list[Event] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.emitted]


def fake_context(state_dir: Path, config: Config | None = None, gateway_id: str = "gw-test") -> FakeCore:
    """A context of fakes over ``state_dir``. Emitted events are committed at once (the ``committed`` signal
    hears them, as from the outbox writer) and kept in ``FakeCore.emitted``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    cfg = config or make_config(state_dir, "mqtt://127.0.0.1:9")
    clock = FakeClock()
    uplink = FakeUplink(gateway_id)
    rules = RuleEngine(cfg.rules, clock, state_dir)  # type: ignore[arg-type]
    committed: Signal[Sequence[Event]] = Signal("committed")
    seq = itertools.count(1)
    core: FakeCore

    async def emit(drafts: list[EventDraft]) -> list[Event]:
        events = [make_event(d, gateway_id, clock) for d in drafts]  # type: ignore[arg-type]
        for event in events:
            event.seq = next(seq)
        core.emitted.extend(events)
        committed.emit(events)
        return events

    def supervise(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        core.tasks.append(task)
        return task

    registry = DeviceRegistry(state_dir / "devices.json")
    registry.open()
    ctx = ServiceContext(
        gateway_id=gateway_id,
        state_dir=state_dir,
        clock=clock,  # type: ignore[arg-type]
        config=lambda: cfg,
        registry=registry,
        intake=None,  # type: ignore[arg-type]  # not used by the services tested this way
        rules=rules,
        outbox=None,  # type: ignore[arg-type]
        uplink=uplink,  # type: ignore[arg-type]
        drivers={},
        driver_health=list,
        emit=emit,
        supervise=supervise,
        committed=committed,
        delivered=uplink.delivered,
        pairing=Signal[PairingUpdate]("pairing"),
        status=lambda: {
            "gateway": gateway_id,
            "uplink": {"state": uplink.stats.state},
            "outbox": {"rows": len(core.emitted), "alarms": 0},
            "devices": len(registry),
        },
    )
    core = FakeCore(ctx, clock, uplink, rules)
    return core
