"""Secrets never reach a log line: masked by pattern (keys named like secrets, keys, URLs with passwords) and by
exact value for the secrets the gateway knows (uplink password, bindkeys, installer code, phone numbers)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
#: Words that make a key secret (matched inside longer names: ``uplink_password``, ``ble_bindkey``...).
SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "bindkey",
    "bind_key",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "network_key",
    "nwk_key",
    "link_key",
    "install_code",
    "installer_code",
    "installcode",
    "psk",
    "credential",
)
_KEY = r"[A-Za-z0-9_]*(?:" + "|".join(re.escape(w) for w in SECRET_WORDS) + r")[A-Za-z0-9_]*"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
        "[private key " + MASK + "]",
    ),
    # "key": "value with spaces", key='value' (JSON, reprs), then bare key=value / key: value
    (
        re.compile(r"""(?i)(\b""" + _KEY + r"""["']?\s*[:=]\s*b?)(["'])(?:\\.|(?!\2).)*\2"""),
        r"\1\2" + MASK + r"\2",
    ),
    (re.compile(r"""(?i)(\b""" + _KEY + r"""["']?\s*[:=]\s*)([^\s"',;}&)\]]+)"""), r"\1" + MASK),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@"), r"\1" + MASK + "@"),
    (re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Fa-f])"), MASK),
    (re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{2}[:\- ]){15,}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])"), MASK),
    (re.compile(r"(?:\\x[0-9a-fA-F]{2}){16,}"), MASK),
)


class Redactor:
    """Masks secrets in text: by pattern, and by exact value for registered secrets."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._exact: re.Pattern[str] | None = None

    def add(self, value: str | bytes | None) -> None:
        """Never let ``value`` appear in a log (short values are ignored: they would mask ordinary words)."""
        if isinstance(value, bytes):
            for form in (value.hex(), value.hex(":"), value.hex().upper()):
                self.add(form)
            return
        if not value or len(value) < 4 or value in self._values:
            return
        self._values.add(value)
        alternatives = sorted(self._values, key=len, reverse=True)
        self._exact = re.compile("|".join(re.escape(v) for v in alternatives))

    def __call__(self, text: str) -> str:
        if self._exact is not None:
            text = self._exact.sub(MASK, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


#: The process-wide redactor every handler made here uses.
REDACTOR = Redactor()


def add_secret(value: str | bytes | None) -> None:
    """Register a secret value (uplink password, bindkey, network key) to be masked in every log line."""
    REDACTOR.add(value)


def secrets_in(raw: Any, key: str = "") -> Iterable[str]:
    """Values stored under secret-looking keys anywhere in a config document."""
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            yield from secrets_in(v, str(k))
    elif isinstance(raw, list | tuple):
        for v in raw:
            yield from secrets_in(v, key)
    elif raw is not None and re.fullmatch(_KEY, key, re.I):
        yield str(raw)
