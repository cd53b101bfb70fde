"""Logging: structured lines on stderr (journald keeps them), secrets scrubbed, level changeable at runtime.

Under systemd (``$JOURNAL_STREAM`` names our stderr) each line starts with a syslog ``<N>`` prefix, so
journald records the right priority and adds its own timestamp; elsewhere lines carry an ISO timestamp.
``extra=`` fields (``device``, ``event``...) are appended as ``key=value``. ``FBGW_LOG_FORMAT=json`` gives
one JSON object per line instead.

Nothing secret may reach a log, whoever logs it (our code, a radio library at debug level, a traceback):
every formatted line goes through :class:`Redactor`, which masks ``password=``/``bindkey:``-style values,
PEM private keys, 128-bit-and-longer hex keys (bindkeys, Zigbee network keys, install codes), URL passwords,
and every secret value registered with :func:`add_secret` (the uplink password, device bindkeys...).

Nor may a flood of bad input flood the log: :class:`CollapsingHandler` lets the first few warnings of each kind
(same logger, level and message template) through per minute and sums up the rest in one line ("... repeated
4,812 times in 60 s"); :func:`log_rejected` is how refused input is logged, with its reason and a short escaped
prefix, never the whole of it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal

from core.jsonin import excerpt
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

#: Warnings and errors of one kind let through per window before they are collapsed into a count.
COLLAPSE_BURST = 5
COLLAPSE_WINDOW_S = 60.0
#: How often the logging service writes out the summaries of closed windows.
SUMMARY_CHECK_S = 5.0
#: Kinds tracked at once; beyond that the oldest windows are summed up early.
_COLLAPSE_KINDS = 512


def log_rejected(logger: logging.Logger, where: str, reason: str, detail: str, data: object) -> None:
    """One warning for refused outside input: where, the reason code, a short detail, and a short escaped
    prefix of the input (never all of it: an attacker's payload must not fill the journal)."""
    shown = excerpt(data if isinstance(data, bytes | bytearray | str) else None if data is None else str(data))
    logger.warning("%s: input refused (%s): %s; input %s", where, reason, excerpt(detail), shown)


@dataclass(slots=True)
class _Window:
    end: float
    passed: int = 0
    suppressed: int = 0
    sample: logging.LogRecord | None = None


class CollapsingHandler(logging.Handler):
    """Wraps the real handler: per kind of warning (logger, level, message template) the first ``burst`` records
    of a ``window_s`` window pass; the rest are counted and reported as one line when the window closes.

    Records below WARNING and CRITICAL ones always pass. Summaries go out when the next record arrives after the
    window closed, on :meth:`flush` (the logging service calls it every few seconds) and at exit.
    """

    def __init__(
        self,
        target: logging.Handler,
        burst: int = COLLAPSE_BURST,
        window_s: float = COLLAPSE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.target = target
        self.burst = burst
        self.window_s = window_s
        self.clock = clock
        self.suppressed_total = 0
        self._windows: dict[tuple[str, int, str], _Window] = {}

    def emit(self, record: logging.LogRecord) -> None:
        now = self.clock()
        self._close_windows(now)
        if not logging.WARNING <= record.levelno < logging.CRITICAL:
            self.target.handle(record)
            return
        key = (record.name, record.levelno, str(record.msg))
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= _COLLAPSE_KINDS:
                self._close_windows(float("inf"), oldest=len(self._windows) // 4)
            window = self._windows[key] = _Window(now + self.window_s)
        if window.passed < self.burst:
            window.passed += 1
            self.target.handle(record)
        else:
            window.suppressed += 1
            window.sample = record
            self.suppressed_total += 1

    def _close_windows(self, now: float, oldest: int = 0) -> None:
        """Sum up and forget windows that ended by ``now`` (and the ``oldest`` n whatever their end).

        Windows are opened in time order, so the dict is in order of their ends and the scan stops early."""
        while self._windows:
            key, window = next(iter(self._windows.items()))
            if window.end > now and oldest <= 0:
                return
            oldest -= 1
            del self._windows[key]
            if window.suppressed and window.sample is not None:
                self.target.handle(self._summary(window))

    def _summary(self, window: _Window) -> logging.LogRecord:
        sample = window.sample
        assert sample is not None
        try:
            text = sample.getMessage()
        except (TypeError, ValueError):
            text = str(sample.msg)
        summary = logging.makeLogRecord(
            {
                "name": sample.name,
                "levelno": sample.levelno,
                "levelname": sample.levelname,
                "msg": "%s ... repeated %s times in %d s",
                "args": (excerpt(text, 160)[1:-1], f"{window.suppressed:,}", round(self.window_s)),
            }
        )
        return summary

    def flush(self) -> None:
        self.acquire()
        try:
            self._close_windows(self.clock())
        finally:
            self.release()
        self.target.flush()

    @property
    def kinds(self) -> int:
        """Kinds of warning being watched right now (bounded)."""
        return len(self._windows)

    def close(self) -> None:
        self.flush()
        self.target.close()
        super().close()

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        self.target.setFormatter(fmt)


def setup_logging(level: str = "info", fmt: str | None = None, stream: IO[str] | None = None) -> logging.Handler:
    """Install the gateway's log handler on the root logger (replacing an earlier one); set the level.

    ``fmt``: "journal", "text", "json" or None for automatic (``$FBGW_LOG_FORMAT``, else journal under
    systemd, else text).
    """
    stream = stream or sys.stderr
    chosen = fmt or os.environ.get("FBGW_LOG_FORMAT") or ("journal" if _stderr_is_journal(stream) else "text")
    if chosen not in ("journal", "text", "json"):
        chosen = "text"
    stream_handler = logging.StreamHandler(stream)
    stream_handler.setFormatter(StructuredFormatter(chosen))  # type: ignore[arg-type]
    handler = CollapsingHandler(stream_handler)
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


def flush_collapsed() -> None:
    """Write out the summaries of collapsed warnings whose window has closed."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, CollapsingHandler):
            handler.flush()


def set_level(name: str) -> None:
    """Change the log level of the whole process now ("debug", "info", "warning", "error")."""
    level = LEVELS.get(name.lower())
    if level is None:
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join(LEVELS)}")
    logging.getLogger().setLevel(level)
