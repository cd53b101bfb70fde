"""The one way JSON from outside is decoded: HTTP bodies, MQTT payloads, pushed documents.

Input from the network is capped twice before it can cost memory or stack: its size is checked before a byte
is decoded, and its nesting depth is measured by a flat scan before the recursive decoder sees it (so a body
of ten thousand ``[`` is a clean :class:`JsonRejected`, never a ``RecursionError``). Every failure is a
:class:`JsonRejected` with a stable ``reason`` and the HTTP status that fits it (413 for size, 400 otherwise).

:func:`excerpt` gives the short, escaped prefix of a rejected input that logs may carry.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any, Literal

Reason = Literal["too_large", "not_json", "too_deep", "duplicate_key", "not_object"]

#: Default caps; callers pass their own from config.
MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
#: Longest excerpt of a rejected input a log line may carry.
EXCERPT_CHARS = 200

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class JsonRejected(ValueError):
    """Input refused at the edge. ``reason`` is a stable code, ``detail`` a short sentence, ``status`` for HTTP."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail

    @property
    def status(self) -> int:
        return 413 if self.reason == "too_large" else 400


def nesting_depth(data: bytes) -> int:
    """Deepest ``[``/``{`` nesting of a JSON text, without recursion (brackets inside strings do not count).

    Unbalanced input gives some depth too; the decoder refuses it afterwards.
    """
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    if not brackets:
        return 0
    return max(itertools.accumulate(_STEP[b] for b in brackets))


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonRejected("duplicate_key", f"duplicate key {excerpt(key, 64)}")
        out[key] = value
    return out


def loads(
    data: bytes | bytearray | str,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    unique_keys: bool = False,
) -> Any:
    """Decode ``data`` (UTF-8) as JSON within the caps; raise :class:`JsonRejected` otherwise.

    ``unique_keys``: refuse an object that names a key twice (a signed document must have one meaning).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise JsonRejected("too_large", f"{len(raw)} bytes, at most {max_bytes} accepted")
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise JsonRejected("too_deep", f"nested {depth} levels, at most {max_depth} accepted")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRejected("not_json", "not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_unique if unique_keys else None)
    except json.JSONDecodeError as exc:
        raise JsonRejected("not_json", f"{exc.msg} at {exc.pos}") from None
    except RecursionError:  # cannot happen below the depth cap; kept so it can never escape
        raise JsonRejected("too_deep", "nested too deeply") from None


def loads_object(data: bytes | bytearray | str, **caps: Any) -> dict[str, Any]:
    """:func:`loads`, and the top level must be a JSON object."""
    value = loads(data, **caps)
    if not isinstance(value, dict):
        raise JsonRejected("not_object", "the top level must be a JSON object")
    return value


def excerpt(data: bytes | bytearray | str | None, limit: int = EXCERPT_CHARS) -> str:
    """A log-safe prefix of untrusted input: at most ``limit`` characters, non-printables escaped, quoted."""
    if data is None:
        return "''"
    head = data[: limit * 4]
    text = bytes(head).decode("utf-8", "surrogateescape") if isinstance(head, bytes | bytearray) else head
    shown = "".join(_escape(c) for c in text)
    cut = len(shown) > limit or len(data) > len(head)
    return f"'{shown[:limit]}'" + (f"... ({len(data)} in all)" if cut else "")


def _escape(char: str) -> str:
    if char.isprintable() and char not in "\\'":
        return char
    if "\udc80" <= char <= "\udcff":  # a byte that is not UTF-8 (surrogateescape)
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii") if char != "'" else "\\'"
