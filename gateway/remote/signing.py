"""Ed25519 signatures on what the platform pushes (desired documents and commands).

The envelope (docs/remote.md, "Signatures"): a signed JSON object carries one extra top-level member
``"signature": {"alg": "ed25519", "sig": "<base64 of the 64-byte signature>"}``. The signature is detached: it
covers the bytes ``CONTEXT + canonical_json(object without "signature")`` where ``CONTEXT`` is
``b"fbgw/v1 desired\\n"`` for desired documents and ``b"fbgw/v1 cmd\\n"`` for commands, so a signed command
can never be passed off as a document or the other way round. ``canonical_json`` is RFC 8785 (JCS): members
sorted by key (UTF-16 code units), no insignificant whitespace, UTF-8, ECMAScript number formatting.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.settings.remote import RemoteSettings, decode_raw_key

if TYPE_CHECKING:  # cryptography is loaded only when a key is used: a few MB less on a box without signing
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CONTEXT_DESIRED = b"fbgw/v1 desired\n"
CONTEXT_COMMAND = b"fbgw/v1 cmd\n"
SIGNATURE_MEMBER = "signature"
ALGORITHM = "ed25519"


class SignatureError(ValueError):
    """A signature is missing or does not verify (``reason``: signature_missing or signature_invalid)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


# ------------------------------------------------------------------------------------------ canonical JSON


def _number(x: float) -> str:
    """ECMAScript Number-to-String, as RFC 8785 requires (Python's repr gives the shortest digits)."""
    if not math.isfinite(x):
        raise ValueError("NaN and Infinity have no JSON form")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    point = len(whole) + (int(exp) if exp else 0)  # decimal point position relative to the digit string
    digits = whole + frac
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * (-point) + digits
    e = point - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if e > 0 else '-'}{abs(e)}"


def _encode(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value, key=lambda k: str(k).encode("utf-16-be"))):
            if not isinstance(key, str):
                raise TypeError("JSON object keys must be strings")
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical form of a JSON value (as parsed by :func:`json.loads`)."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")


def signed_bytes(doc: dict[str, Any], context: bytes) -> bytes:
    """What the signature covers: the context line, then the canonical object without its signature."""
    return context + canonical_json({k: v for k, v in doc.items() if k != SIGNATURE_MEMBER})


# ------------------------------------------------------------------------------------------ keys


def load_platform_key(settings: RemoteSettings) -> Ed25519PublicKey | None:
    """The configured platform key, or None when pushes need no signature (blocking: may read a file)."""
    if settings.platform_key is None and settings.platform_key_file is None:
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if settings.platform_key is not None:
        return Ed25519PublicKey.from_public_bytes(decode_raw_key(settings.platform_key))
    if settings.platform_key_file is None:
        return None
    text = Path(settings.platform_key_file).read_text(encoding="ascii")
    if "-----BEGIN" in text:
        key = serialization.load_pem_public_key(text.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{settings.platform_key_file}: not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(decode_raw_key(text))


def public_key_b64(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


# ------------------------------------------------------------------------------------------ sign / verify


def sign(doc: dict[str, Any], key: Ed25519PrivateKey, context: bytes) -> dict[str, Any]:
    """A copy of ``doc`` with its signature member (the platform side; used by tests and tools)."""
    sig = key.sign(signed_bytes(doc, context))
    body = {k: v for k, v in doc.items() if k != SIGNATURE_MEMBER}
    body[SIGNATURE_MEMBER] = {"alg": ALGORITHM, "sig": base64.b64encode(sig).decode("ascii")}
    return body


def verify(doc: dict[str, Any], key: Ed25519PublicKey, context: bytes) -> None:
    """Raise :class:`SignatureError` unless ``doc`` carries a valid signature by ``key``."""
    envelope = doc.get(SIGNATURE_MEMBER)
    if envelope is None:
        raise SignatureError("signature_missing", "a platform key is configured: the signature member is required")
    if not isinstance(envelope, dict) or set(envelope) != {"alg", "sig"}:
        raise SignatureError("signature_invalid", 'signature must be {"alg": "ed25519", "sig": "<base64>"}')
    if envelope["alg"] != ALGORITHM:
        raise SignatureError("signature_invalid", f"unsupported signature algorithm {envelope['alg']!r}")
    sig_text = envelope["sig"]
    try:
        if not isinstance(sig_text, str):
            raise ValueError
        sig = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature_invalid", "sig is not base64") from None
    if len(sig) != 64:
        raise SignatureError("signature_invalid", f"an Ed25519 signature is 64 bytes, not {len(sig)}")
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(sig, signed_bytes(doc, context))
    except InvalidSignature:
        raise SignatureError("signature_invalid", "signature does not verify with the platform key") from None
    except (TypeError, ValueError) as exc:  # content that has no canonical form (cannot have been signed)
        raise SignatureError("signature_invalid", f"cannot canonicalise: {exc}") from None
