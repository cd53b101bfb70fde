"""The remote config service: desired document in, validated whole, applied atomically, reported back.

One worker handles documents one at a time (only the newest waiting document is kept). For each: size, JSON,
signature, target gateway, schema, version, referenced devices and county are checked; the effective config
(local ⊕ document) is built and validated as a whole; pushed connection settings are tried with a deadline;
then the raw document is written to the state directory (the commit point) and switched in by the one owner
of reconfiguration (:class:`gateway.ports.Reconfigure`). Any failure before the commit point changes nothing;
any failure while switching in, of whatever kind, is rolled back completely (stored document, every service,
uplink, device names and rooms) before it is reported, so the report always says what runs. Every outcome is
published as the retained ``config/reported``, republished on every reconnect. The protocol is in docs/remote.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import aiomqtt
from pydantic import ValidationError

from core.secrets import add_secret
from gateway import link
from gateway.config import Config
from gateway.logsetup import log_rejected
from gateway.ports import ReconfigureIncomplete
from gateway.remote.connection import try_connection
from gateway.remote.desired import (
    LOCAL_ONLY,
    DesiredDocument,
    effective_config,
    tls_files,
    uplink_differs,
)
from gateway.remote.inbound import Rejection, check_gateway, check_signature, parse_object, schema_rejection
from gateway.remote.report import Applied, Outcome, build_report, document_hash, payload_digest
from gateway.remote.signing import CONTEXT_DESIRED, load_platform_key
from gateway.remote.store import RemoteStore
from gateway.topics import Topics
from gateway.uplink import CONNECTION_KEYS

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from core.signal import Unsubscribe
    from gateway.context import ServiceContext
    from gateway.ports import CountyProfiles, Reconfigure, Undo

log = logging.getLogger(__name__)

#: Name and room of devices, as they were before a switch-in (device id -> (name, room)).
Names = dict[str, tuple[str, str]]


class ConfigSync:
    """Service ``remote_config``. See the module docstring."""

    name = "remote_config"

    def __init__(self, ctx: ServiceContext, reconfigure: Reconfigure, counties: CountyProfiles) -> None:
        self.ctx = ctx
        self.config_owner = reconfigure
        self.counties = counties
        self.settings = self.ctx.config().remote
        #: The local config (TOML + command line) every document is laid over.
        self.local: Config = self.ctx.config()
        self.store = RemoteStore(self.ctx.state_dir)
        self.topics = Topics(self.ctx.gateway_id)
        self.key: Ed25519PublicKey | None = None
        self.key_error = ""
        self.applied: Applied | None = None
        self.outcome = Outcome("local")
        self.counters: dict[str, int] = {"received": 0, "applied": 0, "rejected": 0}
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Unsubscribe | None = None
        #: Undoes the switch-in in progress (None until the config owner has switched).
        self._switched: Undo | None = None

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        if not self.settings.config_enabled:
            log.info("remote: desired config disabled ([remote] config_enabled = false)")
            return
        try:
            self.key = await asyncio.to_thread(load_platform_key, self.settings)
        except (OSError, ValueError) as exc:  # fail closed: nothing pushed is accepted without the key
            self.key_error = f"platform key unusable: {exc}"
            log.error("remote: %s; every desired document will be rejected", self.key_error)
        await self._load_stored()
        self._unsubscribe = self.ctx.uplink.on_connect(self.publish_report)
        self._task = self.ctx.supervise(self._worker(), name="remote-config")
        await link.subscribe(self.ctx.uplink, self.topics.config_desired, self._on_message)
        if self.ctx.uplink.connected:
            await self.publish_report()

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        await link.cancel_and_wait(self._task)

    async def idle(self) -> None:
        """Wait until no document is waiting or being applied (tests: wrap in ``asyncio.timeout``)."""
        await self._idle.wait()

    # ------------------------------------------------------------------ intake

    async def _on_message(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        if not isinstance(payload, bytes | bytearray) or not payload:
            log.info("remote: desired document cleared on the broker; the applied one stays in force")
            return
        with contextlib.suppress(asyncio.QueueEmpty):  # only the newest waiting document matters
            self._inbox.get_nowait()
        self._idle.clear()
        self._inbox.put_nowait(bytes(payload))

    async def submit(self, payload: bytes) -> None:
        """Process one document now (the worker path, callable directly by tests and tools)."""
        self._idle.clear()
        try:
            await self._process(payload)
        finally:
            self._idle.set()

    async def _worker(self) -> None:
        while True:
            payload = await self._inbox.get()
            self._idle.clear()
            try:
                await self._process(payload)
            except Exception as exc:  # a bug must not end remote config; it is logged and reported
                log.exception("remote: processing a desired document failed")
                rej = Rejection("internal_error", repr(exc))
                await self._reject(None, document_hash(None, payload), rej, payload)
            finally:
                if self._inbox.empty():
                    self._idle.set()

    # ------------------------------------------------------------------ validation

    async def _validate(
        self, payload: bytes, doc_obj: dict[str, Any], *, fresh: bool
    ) -> tuple[DesiredDocument, Config]:
        """Everything that can refuse a document, without side effects. ``fresh``: a push, not a reload."""
        if self.key_error:
            raise Rejection("signature_invalid", self.key_error)
        check_signature(doc_obj, self.key, CONTEXT_DESIRED)
        check_gateway(doc_obj, self.ctx.gateway_id, required=self.key is not None)
        try:
            doc = DesiredDocument.model_validate_json(payload, strict=True)
        except ValidationError as exc:
            raise schema_rejection(exc, LOCAL_ONLY) from None
        if fresh:
            if self.applied is not None and doc.version <= self.applied.version:
                raise Rejection(
                    "stale_version",
                    f"version {doc.version} is not above the applied version {self.applied.version}",
                )
            unknown = sorted(d for d in (doc.devices or {}) if self.ctx.registry.get(d) is None)
            if unknown:
                raise Rejection("unknown_device", "not paired here: " + ", ".join(unknown[:20]))
            if doc.county is not None:
                await self._check_county(doc.county)
        for contact in doc.modem.contacts if doc.modem is not None else []:
            add_secret(contact.number)  # phone numbers are personal data: never in a log line
            add_secret(contact.number.removeprefix("+86"))
        if doc.connection is not None:
            add_secret(doc.connection.password)  # before anything can log it
        try:
            candidate = effective_config(self.local, doc, self.store.tls_dir)
        except ValidationError as exc:
            raise schema_rejection(exc) from None
        return doc, candidate

    async def _check_county(self, county: str) -> None:
        try:
            await asyncio.to_thread(self.counties.check_county, county, self.local.web.counties_dir)
        except ValueError as exc:
            raise Rejection("unknown_county", str(exc)) from None

    # ------------------------------------------------------------------ processing

    async def _process(self, payload: bytes) -> None:
        self.counters["received"] += 1
        doc_obj: dict[str, Any] | None = None
        version: int | None = None
        try:
            doc_obj = parse_object(payload, self.settings.max_document_bytes)
            raw_version = doc_obj.get("version")
            version = raw_version if isinstance(raw_version, int) and not isinstance(raw_version, bool) else None
        except Rejection as rej:
            await self._reject(None, document_hash(None, payload), rej, payload)
            return
        doc_hash = document_hash(doc_obj, payload)
        if self.applied is not None and doc_hash == self.applied.hash:
            log.debug("remote: desired document %s is the applied one", doc_hash)
            await self.publish_report()  # e.g. the retained document again after a reconnect
            return
        if self.outcome.state == "rejected" and self.outcome.payload_sha256 == payload_digest(payload):
            log.info(
                "remote: desired document %s was refused before (%s); not retried",
                doc_hash,
                self.outcome.reason,
            )
            await self.publish_report()
            return
        try:
            doc, candidate = await self._validate(payload, doc_obj, fresh=True)
        except Rejection as rej:
            await self._reject(version, doc_hash, rej, payload)
            return
        await self._apply(doc, payload, doc_hash, candidate)

    async def _apply(self, doc: DesiredDocument, payload: bytes, doc_hash: str, candidate: Config) -> None:
        old_uplink = self.ctx.config().uplink
        old_names = self._names(doc)
        previous_payload = await self.store.load_desired()
        connection_tried = False
        try:
            if doc.connection is not None:
                await self.store.write_tls(tls_files(doc.connection, self.store.tls_dir))
            if uplink_differs(old_uplink, candidate.uplink, CONNECTION_KEYS):
                trial = await try_connection(self.ctx.uplink, candidate.uplink, self.settings.connection_trial_s)
                if not trial.ok:
                    raise Rejection("connection_failed", f"rolled back to {old_uplink.broker}: {trial.error}")
                connection_tried = True
            await self.store.save_desired(payload)  # the commit point
        except OSError as exc:
            if connection_tried:
                self.ctx.uplink.reconnect_now(old_uplink)
            await self._reject(doc.version, doc_hash, Rejection("storage_error", f"cannot store: {exc}"), payload)
            return
        except Rejection as rej:
            await self._reject(doc.version, doc_hash, rej, payload)
            return
        except Exception:  # deliberately broad (a bug): nothing is committed, but a trial connection is in use
            if connection_tried:
                self.ctx.uplink.reconnect_now(old_uplink)
            raise  # the worker reports it as internal_error; the gateway runs the old settings
        try:
            await self._switch_in(candidate, doc)
        except Exception as exc:
            # Deliberately broad: past the commit point desired.json holds the new document and part of the
            # gateway may already run it. Whatever the failure (a bug in one service's reconfigure included),
            # everything must go back, or the report would name one version while a mix of two runs.
            log.error("remote: switching in version %s failed (%r); rolling back", doc.version, exc)
            problems = await self._roll_back(self._switched, exc, previous_payload, old_names)
            detail = str(exc) if isinstance(exc, OSError | ValueError) else f"{type(exc).__name__}: {exc}"
            if problems:
                detail += "; rollback incomplete: " + "; ".join(problems)
            await self._reject(doc.version, doc_hash, Rejection("apply_failed", detail), payload)
            return
        self.applied = Applied(doc.version, doc_hash)
        self.counters["applied"] += 1
        log.info("remote: desired config version %s applied (%s)", doc.version, doc_hash)
        await self._report(Outcome("applied", doc.version, doc_hash))

    async def _switch_in(self, new: Config, doc: DesiredDocument | None) -> None:
        """Make the gateway run ``new`` (the one owner of reconfiguration switches rules, services and uplink, and
        puts them back itself if that fails), then device names and rooms. ``_switched`` undoes the first part."""
        self._switched = None
        self._switched = await self.config_owner.reconfigure(new)
        await self._rename(doc)

    async def _rename(self, doc: DesiredDocument | None) -> None:
        for device_id, wanted in ((doc.devices or {}) if doc is not None else {}).items():
            device = self.ctx.registry.get(device_id)
            if device is None:
                log.warning("remote: device %s named in the desired config is not paired; skipped", device_id)
                continue
            changes = {k: v for k, v in wanted.model_dump(exclude_none=True).items() if getattr(device, k) != v}
            if changes:
                await self.ctx.registry.update(device_id, **changes)

    def _names(self, doc: DesiredDocument) -> Names:
        """Name and room of every device the document renames, to put back if the switch-in fails."""
        out: Names = {}
        for device_id in doc.devices or {}:
            device = self.ctx.registry.get(device_id)
            if device is not None:
                out[device_id] = (device.name, device.room)
        return out

    async def _roll_back(
        self, undo: Undo | None, failure: BaseException, previous_payload: bytes | None, old_names: Names
    ) -> list[str]:
        """Return to what ran before a failed switch-in: stored document, config (rules, services, uplink), device
        names and rooms. Every step is tried even if an earlier one fails; returns what could not be undone."""
        problems: list[str] = []
        if previous_payload is None:
            await _undo("desired.json", self.store.remove(self.store.desired_path), problems)
        else:
            await _undo("desired.json", self.store.save_desired(previous_payload), problems)
        if undo is not None:  # the switch-in itself succeeded; a later step failed
            await _undo("config", undo(), problems)
        elif isinstance(failure, ReconfigureIncomplete):  # it failed and could not put everything back
            problems.extend(failure.problems)
        for device_id, (name, room) in old_names.items():
            device = self.ctx.registry.get(device_id)
            if device is not None and (device.name, device.room) != (name, room):
                await _undo(f"device {device_id}", self.ctx.registry.update(device_id, name=name, room=room), problems)
        return problems

    # ------------------------------------------------------------------ start-up

    async def _load_stored(self) -> None:
        """Re-apply the last applied document over the local config, so a restart keeps it."""
        saved = await self.store.load_report()
        saved_outcome = Outcome.from_json(saved) if saved else None
        payload = await self.store.load_desired()
        if payload is None:
            if saved_outcome is not None and saved_outcome.state == "rejected":
                self.outcome = saved_outcome  # remembered so the same refused document is not retried
            return
        try:
            doc_obj = parse_object(payload, max(self.settings.max_document_bytes, len(payload)))
            doc, candidate = await self._validate(payload, doc_obj, fresh=False)
        except Rejection as rej:
            log.error("remote: the stored desired document no longer validates (%s); running the local config", rej)
            self.outcome = Outcome(
                "rejected",
                None,
                document_hash(None, payload),
                rej.reason,
                f"stored document: {rej.detail}",
                payload_digest(payload),
            )
            await self.store.save_report(self._report_body())
            return
        doc_hash = document_hash(doc_obj, payload)
        if doc.connection is not None:
            await self.store.write_tls(tls_files(doc.connection, self.store.tls_dir))
        await self._switch_in(candidate, doc)
        self.applied = Applied(doc.version, doc_hash)
        if saved_outcome is not None and saved_outcome.state == "rejected":
            self.outcome = saved_outcome
        else:
            self.outcome = Outcome("applied", doc.version, doc_hash)
        log.info("remote: desired config version %s re-applied from %s", doc.version, self.store.desired_path)

    # ------------------------------------------------------------------ reporting

    async def _reject(self, version: int | None, doc_hash: str, rej: Rejection, payload: bytes) -> None:
        self.counters["rejected"] += 1
        log_rejected(log, f"remote: desired document {doc_hash} (version {version})", rej.reason, rej.detail, payload)
        await self._report(
            Outcome("rejected", version, doc_hash, rej.reason, rej.detail[:2000], payload_digest(payload))
        )

    def _report_body(self) -> dict[str, Any]:
        return build_report(self.ctx.gateway_id, self.outcome, self.applied, self.ctx.config(), self.ctx.registry)

    async def _report(self, outcome: Outcome) -> None:
        self.outcome = outcome
        try:
            await self.store.save_report(self._report_body())
        except OSError as exc:
            log.error("remote: cannot store the report: %s", exc)
        await self.publish_report()

    async def publish_report(self) -> None:
        """Publish the retained report (also the on-connect hook: every reconnect republishes it)."""
        body = json.dumps(self._report_body(), ensure_ascii=False, separators=(",", ":")).encode()
        await link.publish(self.ctx.uplink, self.topics.config_reported, body, retain=True)


async def _undo(what: str, step: Awaitable[object], problems: list[str]) -> bool:
    """Await one rollback step; a failure is logged and added to ``problems``, and the rollback goes on."""
    try:
        await step
    except Exception as exc:  # deliberately broad: one step that fails must not stop the others
        log.critical("remote: rollback of %s failed: %r", what, exc)
        problems.append(f"{what}: {exc!r}")
        return False
    return True
