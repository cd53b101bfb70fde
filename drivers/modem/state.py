"""What a modem's ModemManager properties mean for the gateway: ready to send or why not, and its health.

Pure functions over the property snapshot the driver keeps up to date from ``PropertiesChanged``, so the rules
(a failed modem, a locked or missing SIM, no registration) are read in one place and tested without D-Bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.phone import SmsResult
from drivers.modem import mm

Props = Mapping[str, Mapping[str, Any]]  # interface -> property -> value

#: Why the modem cannot send right now (``sms_blocked()``, and the ``detail`` of what was then not sent).
NOT_READY_REASONS = ("no_modem", "sim_missing", "sim_locked", "sim_error", "not_registered", "modem_failed")


@dataclass(frozen=True, slots=True)
class CellularHealth:
    """The modem as ``fbgw status``, the heartbeat and the status page show it."""

    present: bool = False
    ready: bool = False  # could send an SMS now
    not_ready: str = ""  # why not (one of NOT_READY_REASONS), or ""
    model: str = ""
    state: str = "unknown"  # ModemManager's modem state: registered, connected, searching, locked, failed...
    sim: str = "unknown"  # ok, missing, error, locked:<lock>, unknown
    registration: str = "unknown"  # home, roaming, denied, searching, idle, unknown...
    registered: bool = False
    roaming: bool = False
    technology: str = ""  # lte, umts, gsm...
    signal_pct: int | None = None
    operator: str = ""
    last_sms: SmsResult | None = None
    counters: dict[str, int] = field(default_factory=dict)


def not_ready(props: Props | None) -> str:
    """Why nothing can be sent now ("" = ready); one of :data:`NOT_READY_REASONS`. ``props`` None: no modem."""
    if props is None:
        return "no_modem"
    modem = props.get(mm.MODEM, {})
    state = int(modem.get("State", 0))
    if state == mm.STATE_FAILED:
        return mm.FAILED_REASONS.get(int(modem.get("StateFailedReason", 1)), "modem_failed")
    lock = int(modem.get("UnlockRequired", mm.LOCK_UNKNOWN))
    if state == mm.STATE_LOCKED or lock not in (mm.LOCK_NONE, mm.LOCK_UNKNOWN):
        return "sim_locked"
    if modem.get("Sim", "/") in ("", "/"):
        return "sim_missing"
    if not registration(props)[1]:
        return "not_registered"
    return ""


def registration(props: Props) -> tuple[str, bool, bool]:
    """(name, registered, roaming) from ``Modem3gpp.RegistrationState``."""
    raw = props.get(mm.MODEM_3GPP, {}).get("RegistrationState")
    if raw is None:  # a CDMA-only or not-yet-enabled modem: fall back on the modem state
        registered = int(props.get(mm.MODEM, {}).get("State", 0)) >= mm.STATE_REGISTERED
        return ("home" if registered else "unknown", registered, False)
    return mm.REGISTRATION.get(int(raw), ("unknown", False, False))


def sim_state(props: Props) -> str:
    """``ok``, ``missing``, ``error``, ``locked:<lock>`` or ``unknown``."""
    modem = props.get(mm.MODEM, {})
    reason = not_ready(props)
    if reason in ("sim_missing", "sim_error"):
        return reason.removeprefix("sim_")
    lock = int(modem.get("UnlockRequired", mm.LOCK_UNKNOWN))
    if reason == "sim_locked":
        return "locked:" + mm.LOCKS.get(lock, str(lock))
    return "ok" if modem.get("Sim", "/") not in ("", "/") else "unknown"


def health(
    props: Props | None, sim: Mapping[str, Any], last_sms: SmsResult | None, counters: Mapping[str, int]
) -> CellularHealth:
    """The health shown in ``fbgw status``; ``props`` None: no modem."""
    if props is None:
        return CellularHealth(not_ready="no_modem", last_sms=last_sms, counters=dict(counters))
    modem = props.get(mm.MODEM, {})
    quality = modem.get("SignalQuality") or [None, False]
    name, registered, roaming = registration(props)
    reason = not_ready(props)
    return CellularHealth(
        present=True,
        ready=not reason,
        not_ready=reason,
        model=" ".join(str(modem.get(k, "")) for k in ("Manufacturer", "Model")).strip(),
        state=mm.MODEM_STATES.get(int(modem.get("State", 0)), "unknown"),
        sim=sim_state(props),
        registration=name,
        registered=registered,
        roaming=roaming,
        technology=mm.technology(int(modem.get("AccessTechnologies", 0))),
        signal_pct=int(quality[0]) if quality[0] is not None else None,
        operator=str(props.get(mm.MODEM_3GPP, {}).get("OperatorName") or sim.get("OperatorName", "")),
        last_sms=last_sms,
        counters=dict(counters),
    )
