"""Refused input is logged short and escaped, and a flood of refusals costs a fixed number of log lines."""

from __future__ import annotations

import io
import logging
import random
from collections.abc import Iterator

import pytest

from gateway.logsetup import CollapsingHandler, StructuredFormatter, log_rejected

#: Lines one kind of warning may write per 1,000 refusals in one window: the burst plus one summary.
MAX_LINES_PER_1000 = 10


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, Clock, CollapsingHandler]]:
    stream = io.StringIO()
    inner = logging.StreamHandler(stream)
    inner.setFormatter(StructuredFormatter("text"))
    clock = Clock()
    handler = CollapsingHandler(inner, burst=5, window_s=60, clock=clock)
    logger = logging.getLogger("tests.collapse")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger, stream, clock, handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def hostile(rng: random.Random) -> bytes:
    size = rng.choice([10, 300, 5000, 60_000])
    return bytes(rng.getrandbits(8) for _ in range(min(size, 400))) * (size // 400 + 1)


def test_a_thousand_refusals_write_a_bounded_number_of_short_lines(logged) -> None:  # type: ignore[no-untyped-def]
    logger, stream, clock, handler = logged
    rng = random.Random(7)
    for i in range(1000):
        log_rejected(logger, "alarms: ack message", "not_json", f"bad byte at {i}", hostile(rng))
        clock.now += 0.01
    logger.info("ordinary lines are never collapsed")
    lines = stream.getvalue().splitlines()
    assert len(lines) <= MAX_LINES_PER_1000
    assert all(len(line) < 700 for line in lines)
    assert all("\x1b" not in line and "\x00" not in line for line in lines)
    assert handler.suppressed_total == 995
    clock.now += 61
    handler.flush()
    summary = stream.getvalue().splitlines()[-1]
    assert "repeated 995 times in 60 s" in summary and "WARNING" in summary
    assert len(stream.getvalue().splitlines()) <= MAX_LINES_PER_1000 + 1


def test_large_counts_use_separators_and_windows_restart(logged) -> None:  # type: ignore[no-untyped-def]
    logger, stream, clock, _handler = logged
    for _ in range(4817):
        logger.warning("remote: more than %d commands waiting; one dropped unread", 64)
    clock.now += 60
    logger.warning("remote: more than %d commands waiting; one dropped unread", 64)  # a new window
    out = stream.getvalue()
    assert "repeated 4,812 times in 60 s" in out
    assert out.count("one dropped unread") == 5 + 1 + 1  # first burst, the summary's sample, new window


def test_different_kinds_do_not_hide_each_other(logged) -> None:  # type: ignore[no-untyped-def]
    logger, stream, _clock, _handler = logged
    for _ in range(100):
        logger.warning("flood %s", "x")
    logger.warning("the one line that matters")
    logger.critical("critical lines always pass %s", 1)
    assert "the one line that matters" in stream.getvalue()
    assert "critical lines always pass" in stream.getvalue()


def test_many_kinds_stay_bounded_in_memory(logged) -> None:  # type: ignore[no-untyped-def]
    logger, stream, _clock, handler = logged
    for i in range(5000):
        for _ in range(7):
            logger.warning(f"kind {i} %s", i)  # a new template each time
    assert handler.kinds <= 512
    assert "repeated 2 times" in stream.getvalue()
