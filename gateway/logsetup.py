"""Logging: structured lines on stderr (journald keeps them), secrets scrubbed, level changeable at runtime.

Under systemd (``$JOURNAL_STREAM`` names our stderr) each line starts with a syslog ``<N>`` prefix, so
journald records the right priority and adds its own timestamp; elsewhere lines carry an ISO timestamp.
``extra=`` fields (``device``, ``event``...) are appended as ``key=value``. ``FBGW_LOG_FORMAT=json`` gives
one JSON object per line instead.

Nothing secret may reach a log, whoever logs it (our code, a radio library at debug level, a traceback):
every formatted line goes through :class:`Redactor`, which masks ``password=``/``bindkey:``-style values,
PEM private keys, 128-bit-and-longer hex keys (bindkeys, Zigbee network keys, install codes), URL passwords,
and every secret value registered with :func:`add_secret` (the uplink password, device bindkeys...).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import IO, TYPE_CHECKING, Any, Literal

from core.secrets import REDACTOR, Redactor, add_secret, secrets_in

if TYPE_CHECKING:
    from gateway.config import Config

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
#: Syslog priorities journald understands as a line prefix.
_SYSLOG = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def register_config_secrets(config: Config) -> None:
    """Mask every secret the config holds (uplink password, driver keys and codes)."""
    for value in secrets_in(config.model_dump(mode="json")):
        add_secret(value)


class StructuredFormatter(logging.Formatter):
    """``<N>logger: msg k=v`` (journal), ``ts LEVEL logger: msg k=v`` (text) or JSON; always redacted."""

    def __init__(self, style: Literal["journal", "text", "json"], redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.kind = style
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS and not k.startswith("_")}
        exc = self.formatException(record.exc_info) if record.exc_info else None
        if record.stack_info:
            exc = (exc + "\n" if exc else "") + self.formatStack(record.stack_info)
        if self.kind == "json":
            doc: dict[str, Any] = {
                "ts": _iso(record.created),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": message,
            }
            doc.update({k: v if isinstance(v, int | float | bool | None) else str(v) for k, v in extras.items()})
            if exc:
                doc["exc"] = exc
            return self.redactor(json.dumps(doc, ensure_ascii=False))
        fields = "".join(f" {k}={_quote(v)}" for k, v in extras.items())
        if self.kind == "journal":
            head = f"<{_SYSLOG.get(record.levelno, 6)}>{record.name}: "
        else:
            head = f"{_iso(record.created)} {record.levelname} {record.name}: "
        line = head + message + fields
        if exc:
            line += "\n" + exc
        return self.redactor(line)


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or any(c in text for c in ' "=\n')) else text


def _stderr_is_journal(stream: IO[str]) -> bool:
    """True if systemd connected this stream to journald ($JOURNAL_STREAM is "dev:inode" of it)."""
    want = os.environ.get("JOURNAL_STREAM", "")
    if not want:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return want == f"{st.st_dev}:{st.st_ino}"


NOISY_LIBRARY_LOGGERS = ("bthome_ble.parser",)


def setup_logging(level: str = "info", fmt: str | None = None, stream: IO[str] | None = None) -> logging.Handler:
    """Install the gateway's log handler on the root logger (replacing an earlier one); set the level.

    ``fmt``: "journal", "text", "json" or None for automatic (``$FBGW_LOG_FORMAT``, else journal under
    systemd, else text).
    """
    stream = stream or sys.stderr
    chosen = fmt or os.environ.get("FBGW_LOG_FORMAT") or ("journal" if _stderr_is_journal(stream) else "text")
    if chosen not in ("journal", "text", "json"):
        chosen = "text"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(StructuredFormatter(chosen))  # type: ignore[arg-type]
    handler.set_name("fbgw")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "fbgw"]:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.captureWarnings(True)
    # Libraries that log every bad radio packet themselves: the drivers count and rate-limit those, so a
    # flood of forged adverts cannot fill the SD card through the journal.
    for noisy in NOISY_LIBRARY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.ERROR)
    set_level(level)
    return handler


def set_level(name: str) -> None:
    """Change the log level of the whole process now ("debug", "info", "warning", "error")."""
    level = LEVELS.get(name.lower())
    if level is None:
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join(LEVELS)}")
    logging.getLogger().setLevel(level)
