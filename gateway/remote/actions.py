"""What each platform command does: one arguments model and one handler per command, in one table.

A handler returns the ``result`` object of a successful command, or raises :class:`CommandFailed` with a
reason code (``unsupported``, ``unknown_device``, ``out_of_range``, ``failed``). Commands that need a service
another part of the gateway provides (the install window, the installer code, alarm acknowledgement) fail
cleanly with ``unsupported`` when that service is not running.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.secrets import add_secret
from gateway import __version__
from gateway.ports import EXIT_RESTART
from gateway.remote.logbuffer import LogBuffer
from gateway.remote.selftest import self_test
from gateway.settings.remote import RemoteSettings
from gateway.slots import state as update_state
from gateway.slots.install import UpdateError, fetch, unpack, verify
from gateway.slots.layout import Layout

if TYPE_CHECKING:
    from gateway.context import ServiceContext
    from gateway.ports import AlarmAcks, InstallerCode, InstallWindow, PromptPacks, TestModeSwitch

log = logging.getLogger(__name__)


Restarter = Callable[[], None]

#: A platform-issued installer code: 6-64 ASCII letters, digits and hyphens (typed on a phone; no spaces, so
#: nothing is lost to trimming, and no look-alike Unicode).
INSTALLER_CODE_PATTERN = r"^[A-Za-z0-9-]{6,64}$"


class CommandFailed(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class CommandContext:
    """What a command handler may use: the gateway's service context and the ports of the services it drives."""

    gateway: ServiceContext
    alarms: AlarmAcks
    window: InstallWindow
    codes: InstallerCode
    test_mode: TestModeSwitch
    packs: PromptPacks
    settings: RemoteSettings
    logs: LogBuffer
    restarter: Restarter
    started_mono: float


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class NoArgs(_Args):
    pass


class PermitJoinArgs(_Args):
    seconds: Annotated[int, Field(ge=1, le=3600)]
    #: One transport (``zigbee``, ``ble``, ``sim``...); default: every driver that is running.
    transport: Annotated[str, StringConstraints(max_length=32)] | None = None


class InstallWindowArgs(_Args):
    #: Default: the gateway's ``[web] install_window_s``; capped by ``install_window_max_s``.
    seconds: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] | None = None


class IdentifyArgs(_Args):
    device: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


class AlarmAckArgs(_Args):
    #: The event id (UUIDv7) of the alarm being acknowledged.
    alarm: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    #: Who acknowledged it on the platform side (operator id or name).
    by: Annotated[str, StringConstraints(max_length=64)] = "platform"
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class InstallerCodeArgs(_Args):
    #: The new installer sign-in code. Kept out of reprs; never logged, echoed or stored in clear.
    code: Annotated[str, StringConstraints(pattern=INSTALLER_CODE_PATTERN), Field(repr=False)]


class TestModeArgs(_Args):
    #: How long test mode lasts; 0 ends it now.
    minutes: Annotated[float, Field(ge=0, le=240)]
    by: Annotated[str, StringConstraints(max_length=64)] = "platform"


class PromptPackArgs(_Args):
    language: Literal["zh-CN", "en"]
    #: Where the tar of WAV files is; ignored when ``sha256`` is "" (remove the pack).
    url: Annotated[str, StringConstraints(max_length=2000)] = ""
    sha256: Annotated[str, StringConstraints(pattern=r"^([0-9a-fA-F]{64})?$")]


class UploadLogsArgs(_Args):
    #: At most this many bytes of the newest log lines (never more than ``[remote] log_upload_max_bytes``).
    max_bytes: Annotated[int, Field(ge=256)] | None = None


class UpdateArgs(_Args):
    #: The package (the .deb scripts/package builds): an https:// URL, or a file already on the box.
    url: Annotated[str, StringConstraints(pattern=r"^(https://|file:///|/)\S{1,2000}$")]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
    size: Annotated[int, Field(ge=1)]
    #: The version the package carries (checked by running it before the switch).
    version: Annotated[str, StringConstraints(pattern=r"^[0-9][A-Za-z0-9.+~-]{0,63}$")]


# ---------------------------------------------------------------------------------------------- handlers


async def _ping(ctx: CommandContext, args: NoArgs) -> dict[str, Any]:
    return {
        "pong": True,
        "version": __version__,
        "uptime_s": round(time.monotonic() - ctx.started_mono, 1),
        "clock_synced": ctx.gateway.clock.synced(),
    }


async def _self_test(ctx: CommandContext, args: NoArgs) -> dict[str, Any]:
    return await self_test(ctx.gateway)


async def _permit_join(ctx: CommandContext, args: PermitJoinArgs) -> dict[str, Any]:
    if args.seconds > ctx.settings.permit_join_max_s:
        raise CommandFailed("out_of_range", f"seconds: at most {ctx.settings.permit_join_max_s}")
    drivers = ctx.gateway.drivers
    if args.transport is not None:
        if args.transport not in drivers:
            raise CommandFailed(
                "unsupported",
                f"no running driver {args.transport!r} (running: {', '.join(drivers) or 'none'})",
            )
        drivers = {args.transport: drivers[args.transport]}
    if not drivers:
        raise CommandFailed("unsupported", "no driver is running")
    opened: list[str] = []
    errors: dict[str, str] = {}
    for name, driver in drivers.items():
        try:
            await driver.start_pairing(args.seconds)
            opened.append(name)
        except (OSError, RuntimeError, ValueError) as exc:
            errors[name] = str(exc)
    if not opened:
        raise CommandFailed("failed", "; ".join(f"{k}: {v}" for k, v in errors.items()))
    return {"seconds": args.seconds, "opened": opened, "errors": errors}


async def _open_install_window(ctx: CommandContext, args: InstallWindowArgs) -> dict[str, Any]:
    try:
        granted = ctx.window.open_install_window(args.seconds)
    except ValueError as exc:
        raise CommandFailed("out_of_range", str(exc)) from None
    return {"seconds": granted}


async def _test_mode(ctx: CommandContext, args: TestModeArgs) -> dict[str, Any]:
    if args.minutes == 0:
        return await ctx.test_mode.end_test(args.by)
    try:
        return await ctx.test_mode.start_test(args.minutes, args.by)
    except ValueError as exc:
        raise CommandFailed("out_of_range", str(exc)) from None


async def _prompt_pack(ctx: CommandContext, args: PromptPackArgs) -> dict[str, Any]:
    try:
        return await ctx.packs.install_pack(args.language, args.url, args.sha256)
    except ValueError as exc:
        raise CommandFailed("failed", str(exc)) from None
    except OSError as exc:
        raise CommandFailed("failed", f"cannot store the pack: {exc}") from None


async def _identify(ctx: CommandContext, args: IdentifyArgs) -> dict[str, Any]:
    device = ctx.gateway.registry.get(args.device)
    if device is None:
        raise CommandFailed("unknown_device", f"{args.device} is not paired here")
    driver = ctx.gateway.drivers.get(device.transport)
    if driver is None:
        raise CommandFailed("unsupported", f"driver {device.transport!r} of {args.device} is not running")
    try:
        done = await driver.identify(args.device)
    except (OSError, RuntimeError, ValueError) as exc:
        raise CommandFailed("failed", str(exc)) from None
    if not done:
        raise CommandFailed("unsupported", f"{args.device} cannot blink or beep")
    return {"device": args.device, "transport": device.transport}


async def _alarm_ack(ctx: CommandContext, args: AlarmAckArgs) -> dict[str, Any]:
    try:
        outcome = await ctx.alarms.ack(args.alarm, by=args.by, note=args.note)
    except LookupError:
        raise CommandFailed("unknown_alarm", f"no open alarm {args.alarm}") from None
    except ValueError as exc:
        raise CommandFailed("failed", str(exc)) from None
    return {
        "alarm": args.alarm,
        "ack": outcome,
    }


async def _set_installer_code(ctx: CommandContext, args: InstallerCodeArgs) -> dict[str, Any]:
    add_secret(args.code)  # first: from here on it is masked in every log line
    if ctx.gateway.config().web.installer_code_hash is not None:
        # The configured hash wins again at the next start: accepting would report a code that does not last.
        raise CommandFailed("unsupported", "the installer code is set by the local config ([web] installer_code_hash)")
    try:
        await ctx.codes.set_installer_code(args.code)
    except ValueError:  # CodeError; its message is fixed, but nothing about the code is passed on
        raise CommandFailed("out_of_range", "code: not accepted as an installer code") from None
    except OSError as exc:
        raise CommandFailed("failed", f"cannot store the installer code hash: {exc.strerror or exc}") from None
    return {"set": True}


async def _upload_logs(ctx: CommandContext, args: UploadLogsArgs) -> dict[str, Any]:
    limit = min(args.max_bytes or ctx.settings.log_upload_max_bytes, ctx.settings.log_upload_max_bytes)
    text, truncated = ctx.logs.tail(limit)
    return {"logs": text, "bytes": len(text.encode("utf-8", "replace")), "truncated": truncated}


async def _restart(ctx: CommandContext, args: NoArgs) -> dict[str, Any]:
    # The restart itself happens after the result is published (see CommandService._run).
    return {"restarting": True, "exit_code": EXIT_RESTART}


async def _update(ctx: CommandContext, args: UpdateArgs) -> dict[str, Any]:
    """Fetch, verify and unpack into the inactive slot, then switch ``current``; the restart follows the result
    and :mod:`gateway.update` confirms the new version or rolls back. Each step is journaled first
    (:mod:`gateway.slots.state`), so a kill at any point is resolved by the next start (:mod:`gateway.slots.guard`)."""
    if args.size > ctx.settings.update_max_bytes:
        raise CommandFailed("out_of_range", f"size: at most {ctx.settings.update_max_bytes} bytes")
    if ctx.gateway.rules.book.open:
        raise CommandFailed("busy", f"{len(ctx.gateway.rules.book.open)} alarm(s) open: no update now")
    state_dir = ctx.gateway.state_dir
    pending = update_state.load(state_dir)
    if pending is not None and pending.phase not in update_state.DONE:
        raise CommandFailed("busy", f"update to {pending.to_version} still {pending.phase}")
    layout = Layout(ctx.settings.update_root)
    from_slot = layout.current()
    if from_slot is None:
        raise CommandFailed("unsupported", f"{layout.current_link}: not installed from the package (no A/B slots)")
    st = update_state.UpdateState(
        command=f"update-{args.version}-{int(time.time())}",
        from_slot=from_slot,
        to_slot=layout.inactive(),
        from_version=__version__,
        to_version=args.version,
    )
    part = state_dir / "update" / "package.part"
    try:
        update_state.save(state_dir, st)  # downloading
        package = await fetch(
            args.url,
            part,
            args.size,
            ca_file=ctx.settings.update_ca_file,
            attempts=ctx.settings.update_download_attempts,
        )
        await verify(package, args.sha256)
        st.phase = "verified"
        update_state.save(state_dir, st)
        if ctx.gateway.rules.book.open:  # an alarm opened while we downloaded
            raise UpdateError("busy", "an alarm opened: no update now")
        slot = await unpack(package, layout, args.version)
        st.phase = "installed"
        update_state.save(state_dir, st)
    except UpdateError as exc:
        log.warning("update to %s refused: %s", args.version, exc)
        if exc.reason == "bad_package":
            part.unlink(missing_ok=True)  # a wrong download is not resumed next time
        _journal_failed(state_dir, st, str(exc))
        raise CommandFailed(exc.reason, str(exc)) from None
    except OSError as exc:
        _journal_failed(state_dir, st, str(exc))
        raise CommandFailed("failed", f"update: {exc}") from None
    layout.switch(slot)  # a kill before the next line is seen at boot: current already names the new slot
    st.phase = "switched"
    update_state.save(state_dir, st)
    if not args.url.startswith("/") and not args.url.startswith("file://"):
        package.unlink(missing_ok=True)
    log.warning("update: slot %s now holds %s; restarting into it", slot, args.version)
    return {"installed": args.version, "slot": slot, "previous": __version__, "restarting": True}


def _journal_failed(state_dir: Path, st: update_state.UpdateState, reason: str) -> None:
    """A refused update: the command's result says why, so no event (``reported``)."""
    st.phase, st.reason, st.reported = "failed", reason[:300], True
    try:
        update_state.save(state_dir, st)
    except OSError as exc:
        log.error("update journal: %s", exc)


def _update_restarting(ctx: ServiceContext) -> None:
    """The result is out; the journal says the old version is going down (then the restart)."""
    st = update_state.load(ctx.state_dir)
    if st is not None and st.phase == "switched":
        st.phase = "restarting"
        update_state.save(ctx.state_dir, st)


Handler = Callable[[CommandContext, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Command:
    args: type[_Args]
    handler: Handler
    #: Runs after its result is published (restart).
    after_result: bool = False
    #: Runs just before that restart.
    before_restart: Callable[[ServiceContext], None] | None = None
    #: Changes nothing, so it may run even when its id cannot be stored (a full disk must stay diagnosable).
    read_only: bool = False


COMMANDS: Mapping[str, Command] = {
    "ping": Command(NoArgs, _ping, read_only=True),
    "self_test": Command(NoArgs, _self_test, read_only=True),
    "permit_join": Command(PermitJoinArgs, _permit_join),
    "open_install_window": Command(InstallWindowArgs, _open_install_window),
    "identify": Command(IdentifyArgs, _identify),
    "test_mode": Command(TestModeArgs, _test_mode),
    "prompt_pack": Command(PromptPackArgs, _prompt_pack),
    "alarm_ack": Command(AlarmAckArgs, _alarm_ack),
    "set_installer_code": Command(InstallerCodeArgs, _set_installer_code),
    "upload_logs": Command(UploadLogsArgs, _upload_logs, read_only=True),
    "restart": Command(NoArgs, _restart, after_result=True),
    "update": Command(UpdateArgs, _update, after_result=True, before_restart=_update_restarting),
}
