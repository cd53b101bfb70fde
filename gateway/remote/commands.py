"""The command service: ``fbgw/v1/{gateway}/cmd`` in, ``fbgw/v1/{gateway}/cmd/result`` out.

Each command carries an ``id`` and an ``expires_at``. It is checked in a fixed order (size, JSON, signature,
target gateway, envelope schema, expiry, duplicate id, command name, arguments); a command that passes is
remembered on disk *before* it runs, so it runs at most once even across restarts, then run, and exactly one
result is published for it. A repeated id (a QoS 1 redelivery, a replay) is answered with ``duplicate`` and
the first outcome, and not run again; what is remembered, and why a replay is refused even before the clock is
synchronised, is in :mod:`gateway.remote.replay`. Results that cannot be published while offline wait
(bounded) and go out on the next connection; a ``restart`` happens only once its result is out. The commands
themselves are in :mod:`gateway.remote.actions`; the protocol is in docs/remote.md.

With the ``thingsboard`` uplink profile, ThingsBoard RPC requests are the same commands, unsigned, when
``[uplink.thingsboard] rpc_commands`` allows it (:mod:`gateway.remote.tb_rpc`), and are answered over RPC.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import aiomqtt
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from core.jsonin import excerpt
from gateway import link
from gateway.logsetup import log_rejected
from gateway.remote import tb_rpc
from gateway.remote.actions import COMMANDS, Command, CommandContext, CommandFailed, Restarter
from gateway.remote.inbound import Rejection, check_gateway, check_signature, parse_object, schema_rejection
from gateway.remote.logbuffer import LogBuffer
from gateway.remote.replay import CommandMemory
from gateway.remote.signing import CONTEXT_COMMAND, load_platform_key
from gateway.remote.store import RemoteStore
from gateway.topics import Topics

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from core.signal import Unsubscribe
    from gateway.context import ServiceContext
    from gateway.ports import AlarmAcks, InstallerCode, InstallWindow, PromptPacks, Restart, TestModeSwitch

log = logging.getLogger(__name__)

#: Commands waiting to be run; more than this at once are refused unread (flood protection).
INBOX_SIZE = 64
#: Results kept for publishing while the uplink is offline.
PENDING_RESULTS = 64
#: How long an unsigned ThingsBoard RPC request counts as fresh (it carries no expiry of its own).
RPC_TTL_MS = 60_000


class Answer(Protocol):
    """Publishes a result; runs ``after`` (a restart) once the platform has it."""

    def __call__(self, body: dict[str, Any], after: Callable[[], None] | None = None) -> Awaitable[dict[str, Any]]: ...


class CommandEnvelope(BaseModel):
    """What every command looks like; ``args`` are checked by the command's own model."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
    cmd: Annotated[str, StringConstraints(max_length=64)]
    args: dict[str, Any] = Field(default_factory=dict)
    #: UTC milliseconds after which the command must not run.
    expires_at: Annotated[int, Field(ge=0, le=2**53 - 1)]
    #: UTC milliseconds when the platform issued it (informational).
    issued_at: Annotated[int, Field(ge=0, le=2**53 - 1)] | None = None
    #: The target gateway id; required in signed commands.
    gateway: Annotated[str, StringConstraints(max_length=64)] | None = None
    signature: dict[str, str] | None = None


class CommandService:
    """Service ``remote_commands``. ``restarter`` (what a ``restart`` does once its result is delivered) is
    replaceable in tests."""

    name = "remote_commands"

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        alarms: AlarmAcks,
        window: InstallWindow,
        codes: InstallerCode,
        restart: Restart,
        test_mode: TestModeSwitch,
        packs: PromptPacks,
    ) -> None:
        self.ctx = ctx
        self.alarms = alarms
        self.window = window
        self.codes = codes
        self.test_mode = test_mode
        self.packs = packs
        self.settings = self.ctx.config().remote
        self.store = RemoteStore(self.ctx.state_dir)
        self.topics = Topics(self.ctx.gateway_id)
        self.logs = LogBuffer(self.settings.log_buffer_bytes)
        self.restarter: Restarter = restart.request_restart
        self.key: Ed25519PublicKey | None = None
        self.key_error = ""
        s = self.settings
        self.memory = CommandMemory(
            s.remembered_commands, int(s.command_clock_skew_s * 1000), s.command_max_ttl_s * 1000
        )
        self.counters: dict[str, int] = collections.defaultdict(int)
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=INBOX_SIZE)
        #: Results not yet delivered, oldest first, each with what to do once the broker has it (restart).
        self._pending: collections.deque[tuple[bytes, Callable[[], None] | None]] = collections.deque(
            maxlen=PENDING_RESULTS
        )
        #: One sender at a time (the worker and the on-connect hook), so no result goes out twice.
        self._sending = asyncio.Lock()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self._unsubscribe: Unsubscribe | None = None

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        if not self.settings.commands_enabled:
            log.info("remote: commands disabled ([remote] commands_enabled = false)")
            return
        try:
            self.key = await asyncio.to_thread(load_platform_key, self.settings)
        except (OSError, ValueError) as exc:  # fail closed
            self.key_error = f"platform key unusable: {exc}"
            log.error("remote: %s; every command will be rejected", self.key_error)
        self.logs.attach()
        self.memory.load(await self.store.load_commands())
        self._unsubscribe = self.ctx.uplink.on_connect(self._flush)
        self._task = self.ctx.supervise(self._worker(), name="remote-commands")
        await link.subscribe(self.ctx.uplink, self.topics.cmd, self._on_message)
        # only subscribed while the profile is thingsboard (the uplink subscribes what the profile carries)
        await link.subscribe(self.ctx.uplink, tb_rpc.DEVICE_RPC, self._on_message)
        await link.subscribe(self.ctx.uplink, tb_rpc.OWN_RPC, self._on_message)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        await link.cancel_and_wait(self._task)
        self.logs.detach()

    async def idle(self) -> None:
        """Wait until no command is queued or running (tests: wrap in ``asyncio.timeout``)."""
        await self._idle.wait()

    @property
    def seen(self) -> dict[str, dict[str, Any]]:
        """The remembered command ids (id -> first outcome)."""
        return self.memory.ids

    # ------------------------------------------------------------------ intake

    async def _on_message(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        if not isinstance(payload, bytes | bytearray) or not payload:
            return
        try:
            self._inbox.put_nowait((str(message.topic), bytes(payload)))
            self._idle.clear()
        except asyncio.QueueFull:
            self.counters["dropped_flood"] += 1
            log.warning("remote: more than %d commands waiting; one dropped unread", INBOX_SIZE)  # collapsed

    async def _worker(self) -> None:
        while True:
            topic, payload = await self._inbox.get()
            try:
                if topic == self.topics.cmd:
                    await self.handle(payload)
                else:
                    await self.handle_rpc(topic, payload)
            except Exception as exc:  # a bug must not end command handling; it is logged and answered
                log.exception("remote: command handling failed")
                await self._publish(self._result(None, None, "error", "internal_error", repr(exc)))
            finally:
                if self._inbox.empty():
                    self._idle.set()

    # ------------------------------------------------------------------ one command

    async def handle(self, payload: bytes) -> dict[str, Any]:
        """Check, run and answer one command; returns the published result."""
        self.counters["received"] += 1
        cmd_id: str | None = None
        cmd_name: str | None = None
        try:
            obj = parse_object(payload, self.settings.max_document_bytes)
            cmd_id = obj["id"] if isinstance(obj.get("id"), str) else None
            cmd_name = obj["cmd"] if isinstance(obj.get("cmd"), str) else None
            checked = self._check(payload, obj)
        except Rejection as rej:
            self.counters["rejected"] += 1
            what = f"remote: command {excerpt(cmd_id, 64)} ({excerpt(cmd_name, 64)})"
            log_rejected(log, what, rej.reason, rej.detail, payload)
            return await self._publish(self._result(cmd_id, cmd_name, "rejected", rej.reason, rej.detail))
        return await self._run(checked)

    async def handle_rpc(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        """A ThingsBoard RPC request: checked like a command (but unsigned), run, answered over RPC."""
        try:
            obj = parse_object(payload, self.settings.max_document_bytes)
            if not tb_rpc.is_request(topic, obj):
                return None  # our own answer on v1/gateway/rpc
            req = tb_rpc.parse(topic, obj)
        except Rejection as rej:  # nothing to answer to: logged and counted
            self.counters["rpc_unreadable"] += 1
            log_rejected(log, f"remote: ThingsBoard RPC on {excerpt(topic, 64)}", rej.reason, rej.detail, payload)
            return None
        self.counters["rpc_received"] += 1

        async def answer(body: dict[str, Any], after: Callable[[], None] | None = None) -> dict[str, Any]:
            reply_topic, reply = req.reply(body)
            if await link.publish(self.ctx.uplink, reply_topic, reply) and after is not None:
                after()
            return body

        uplink = self.ctx.config().uplink
        try:
            if uplink.profile != "thingsboard" or not uplink.thingsboard.rpc_commands:
                raise Rejection(
                    "unsigned_not_allowed", "RPC commands are off ([uplink.thingsboard] rpc_commands = false)"
                )
            now = self.ctx.clock.wall_ms()
            try:
                env = CommandEnvelope(id=req.command_id, cmd=req.method, args=req.params, expires_at=now + RPC_TTL_MS)
            except ValidationError as exc:
                raise schema_rejection(exc) from None
            checked = self._check_envelope(env)
        except Rejection as rej:
            self.counters["rejected"] += 1
            what = f"remote: ThingsBoard RPC {excerpt(req.rpc_id, 64)} ({excerpt(req.method, 64)})"
            log_rejected(log, what, rej.reason, rej.detail, payload)
            return await answer(self._result(req.command_id, req.method, "rejected", rej.reason, rej.detail))
        log.warning("remote: running unsigned command %s from ThingsBoard RPC (rpc_commands = true)", env.cmd)
        return await self._run(checked, answer)

    def _check(self, payload: bytes, obj: dict[str, Any]) -> tuple[CommandEnvelope, Any]:
        if self.key_error:
            raise Rejection("signature_invalid", self.key_error)
        check_signature(obj, self.key, CONTEXT_COMMAND)
        check_gateway(obj, self.ctx.gateway_id, required=self.key is not None)
        try:
            env = CommandEnvelope.model_validate_json(payload, strict=True)
        except ValidationError as exc:
            raise schema_rejection(exc) from None
        return self._check_envelope(env)

    def _check_envelope(self, env: CommandEnvelope) -> tuple[CommandEnvelope, Any]:
        """Freshness, duplicates, the command and its arguments (after the signature, if any, is checked)."""
        self.memory.check(env.id, env.expires_at, self._trusted_now())
        spec = COMMANDS.get(env.cmd)
        if spec is None:
            raise Rejection("unknown_command", f"{env.cmd!r}; known: {', '.join(COMMANDS)}")
        try:
            args = spec.args.model_validate(env.args)
        except ValidationError as exc:
            raise schema_rejection(exc) from None
        return env, args

    def _trusted_now(self) -> int | None:
        """Wall time in UTC ms if the clock is synchronised, else None (it may be off by years)."""
        return self.ctx.clock.wall_ms() if self.ctx.clock.synced() else None

    async def _run(self, checked: tuple[CommandEnvelope, Any], answer: Answer | None = None) -> dict[str, Any]:
        publish = answer or self._publish
        env, args = checked
        spec = COMMANDS[env.cmd]
        stored = await self._remember(env, "running", None)  # before running: at most once, even across a crash
        if not stored and not spec.read_only:
            # Run it now and a redelivery after a restart would find no record and run it again.
            self.counters["failed"] += 1
            await self._remember(env, "error", "failed")
            detail = "the command id could not be stored, so it is not run (it could otherwise run twice)"
            return await publish(self._result(env.id, env.cmd, "error", "failed", detail))
        ctx = CommandContext(
            self.ctx,
            self.alarms,
            self.window,
            self.codes,
            self.test_mode,
            self.packs,
            self.settings,
            self.logs,
            self.restarter,
            self._started,
        )
        try:
            result = await spec.handler(ctx, args)
        except CommandFailed as exc:
            self.counters["failed"] += 1
            await self._remember(env, "error", exc.reason)
            return await publish(self._result(env.id, env.cmd, "error", exc.reason, exc.detail))
        self.counters["ok"] += 1
        await self._remember(env, "ok", None)
        log.info("remote: command %s (%s) done", env.id, env.cmd)
        after = self._after(spec) if spec.after_result else None  # only once the broker has the result
        return await publish(self._result(env.id, env.cmd, "ok", None, "", result), after)

    # ------------------------------------------------------------------ memory of ids

    async def _remember(self, env: CommandEnvelope, status: str, reason: str | None) -> bool:
        """Record the id and its outcome so far, in memory and on disk; False if the disk write failed."""
        record = {"cmd": env.cmd, "status": status, "reason": reason, "at": self.ctx.clock.wall_ms()}
        self.memory.remember(env.id, record, env.expires_at, self._trusted_now())
        try:
            await self.store.save_commands(self.memory.as_json())
        except OSError as exc:
            log.error("remote: cannot store seen command ids: %s", exc)
            return False
        return True

    # ------------------------------------------------------------------ results

    def _after(self, spec: Command) -> Restarter:
        def after() -> None:
            if spec.before_restart is not None:
                try:
                    spec.before_restart(self.ctx)
                except OSError as exc:
                    log.error("remote: before restart: %s", exc)
            self.restarter()

        return after

    def _result(
        self,
        cmd_id: str | None,
        cmd: str | None,
        status: str,
        reason: str | None,
        detail: str,
        result: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": cmd_id,
            "gateway": self.ctx.gateway_id,
            "cmd": cmd,
            "status": status,
            "reason": reason,
            "detail": detail[:2000],
            "ts": self.ctx.clock.wall_ms(),
            "clock_synced": self.ctx.clock.synced(),
        }
        if result is not None:
            body["result"] = result
        if reason == "duplicate":
            with contextlib.suppress(ValueError):
                body["first"] = json.loads(detail)
                body["detail"] = "this command id was already received; it is not run again"
        return body

    async def _publish(self, body: dict[str, Any], after: Callable[[], None] | None = None) -> dict[str, Any]:
        """Publish a result; ``after`` runs once the broker has acknowledged it (now, or after a reconnect)."""
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        async with self._sending:
            await self._drain()  # results still waiting go first
            if not self._pending and await link.publish(self.ctx.uplink, self.topics.cmd_result, payload):
                if after is not None:
                    after()
            else:
                self._queue(payload, after)
        return body

    def _queue(self, payload: bytes, after: Callable[[], None] | None) -> None:
        if len(self._pending) == self._pending.maxlen:
            dropped = self._pending[0]
            log.warning(
                "remote: more than %d command results waiting; the oldest is dropped%s",
                PENDING_RESULTS,
                " and the restart it announced will not happen" if dropped[1] is not None else "",
            )
        self._pending.append((payload, after))

    async def _flush(self) -> None:
        """On-connect hook: send results that were made while offline, oldest first."""
        async with self._sending:
            await self._drain()

    async def _drain(self) -> None:
        while self._pending:
            payload, after = self._pending[0]
            if not await link.publish(self.ctx.uplink, self.topics.cmd_result, payload):
                return
            self._pending.popleft()
            if after is not None:
                after()
