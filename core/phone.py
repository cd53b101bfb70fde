"""Phone numbers and what a cellular modem reports, shared by the modem driver and the second alarm path.

Numbers are kept in E.164 (``+8613800138000``). A Chinese mobile number written without the country code
(``13800138000``) is accepted and normalised. Numbers are personal data: register them with
:func:`core.secrets.add_secret` so no log line carries one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_SEPARATORS = re.compile(r"[\s\-().]")


def normalise_number(raw: str) -> str:
    """The E.164 form of ``raw``; ``ValueError`` if it is neither E.164 nor a Chinese mobile number."""
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if _CN_MOBILE.match(text):
        return "+86" + text
    if text.startswith("+86") and _CN_MOBILE.match(text[3:]):
        return text
    if _E164.match(text):
        return text
    raise ValueError("not a phone number: use E.164 (+8613800138000) or an 11-digit Chinese mobile number")


def same_number(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` are the same number however written (an SMS sender may come without +86)."""
    try:
        return normalise_number(a) == normalise_number(b)
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class SmsResult:
    """What became of one SMS handed to the modem."""

    ok: bool
    #: "sent", or why not: "no_modem", "sim_missing", "sim_locked", "not_registered", "send_failed", "timeout"...
    detail: str = "sent"


@dataclass(frozen=True, slots=True)
class CallResult:
    """What became of one call placed by the modem."""

    answered: bool
    #: "answered", "no_answer", "busy", "rejected", "no_modem", "failed"...
    detail: str = ""
    #: Seconds the call rang before it was answered or given up.
    ring_s: float = 0.0


@dataclass(frozen=True, slots=True)
class IncomingSms:
    """An SMS the modem received (the sender's number as the network gave it)."""

    number: str
    text: str
    received_ms: int = 0
    meta: dict[str, str] = field(default_factory=dict)
