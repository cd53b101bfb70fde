"""The edge every platform push crosses: size, JSON, signature, schema, each failure a reason code.

Desired documents and commands are checked the same way and in the same order, so a platform engineer sees
the same reason for the same mistake on either topic. Reasons are stable strings, listed in docs/remote.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from core import jsonin
from gateway.remote.signing import SignatureError, verify

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Rejection(Exception):
    """A push that is refused. ``reason`` is a stable code, ``detail`` a human sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


#: pydantic error type -> reason code. Anything not here: ``*_type`` -> wrong_type, else invalid.
ERROR_REASONS: Mapping[str, str] = {
    "extra_forbidden": "unknown_key",
    "missing": "missing_key",
    "literal_error": "out_of_range",
    "enum": "out_of_range",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "multiple_of": "out_of_range",
    "finite_number": "out_of_range",
    "too_long": "out_of_range",
    "too_short": "out_of_range",
    "string_too_long": "out_of_range",
    "string_too_short": "out_of_range",
    "string_pattern_mismatch": "out_of_range",
    "int_from_float": "wrong_type",
    "json_invalid": "not_json",
    "json_type": "not_json",
}

#: The order in which reasons win when one document has several problems (most fundamental first).
REASON_ORDER = (
    "not_json",
    "local_only",
    "unknown_key",
    "missing_key",
    "wrong_type",
    "out_of_range",
    "invalid",
)


def reason_for(error_type: str) -> str:
    if error_type in ERROR_REASONS:
        return ERROR_REASONS[error_type]
    if error_type.endswith("_type") or error_type.endswith("_parsing"):
        return "wrong_type"
    return "invalid"


#: Deepest nesting accepted (a real document needs 4); deeper input is refused before it is decoded.
MAX_DEPTH = jsonin.MAX_DEPTH


def parse_object(payload: bytes, max_bytes: int) -> dict[str, Any]:
    """Bytes -> JSON object through :mod:`core.jsonin`, refusing oversized payloads unread, ambiguous
    (duplicate-key) and absurdly deep objects."""
    try:
        return jsonin.loads_object(payload, max_bytes=max_bytes, max_depth=MAX_DEPTH, unique_keys=True)
    except jsonin.JsonRejected as exc:
        raise Rejection("too_large" if exc.reason == "too_large" else "not_json", exc.detail) from None


def check_signature(doc: dict[str, Any], key: Ed25519PublicKey | None, context: bytes) -> None:
    """With a platform key configured, the object must be signed by it (see gateway.remote.signing)."""
    if key is None:
        return
    try:
        verify(doc, key, context)
    except SignatureError as exc:
        raise Rejection(exc.reason, str(exc)) from None


def check_gateway(doc: dict[str, Any], gateway_id: str, *, required: bool) -> None:
    """A push may name its target gateway; signed pushes must, so one cannot be replayed to another box."""
    target = doc.get("gateway")
    if target is None:
        if required:
            raise Rejection("wrong_gateway", "signed pushes must name their target gateway in 'gateway'")
        return
    if target != gateway_id:
        raise Rejection("wrong_gateway", f"addressed to {target!r}, this is {gateway_id!r}")


def schema_rejection(exc: ValidationError, local_only: Mapping[str, str] | None = None) -> Rejection:
    """One rejection for every schema problem: the most fundamental reason, every problem in the detail."""
    local_only = local_only or {}
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        reason = reason_for(err["type"])
        if reason == "unknown_key" and len(err["loc"]) == 1 and str(err["loc"][0]) in local_only:
            reason = "local_only"
            problems.append((reason, f"{where}: {local_only[str(err['loc'][0])]}"))
            continue
        problems.append((reason, f"{where}: {err['msg']}"))
    reason = min((r for r, _ in problems), key=REASON_ORDER.index, default="invalid")
    detail = "; ".join(text for _, text in problems[:20])
    if len(problems) > 20:
        detail += f"; and {len(problems) - 20} more"
    return Rejection(reason, detail)
