"""Outside input to the second path: SMS replies from anyone, and what the SMS text is built from."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.phone import normalise_number, same_number
from gateway.failover.messages import alarm_sms
from gateway.failover.replies import is_ack


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=400))
def test_any_reply_is_read_without_error(text: str) -> None:
    assert is_ack(text) in (True, False)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_any_sender_number_is_compared_without_error(a: str, b: str) -> None:
    assert same_number(a, b) in (True, False)
    try:
        normalised = normalise_number(a)
    except ValueError:
        return
    assert normalised.startswith("+") and normalise_number(normalised) == normalised


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=64), st.text(max_size=64), st.text(max_size=32), st.integers(0, 2**42), st.booleans())
def test_any_alarm_makes_an_sms(kind: str, room: str, elder: str, ts: int, synced: bool) -> None:
    for lang in ("zh", "en"):
        text = alarm_sms(
            elder=elder, kind=kind, room=room, ts_ms=ts, timezone="Asia/Shanghai", lang=lang, synced=synced
        )
        assert text and ("1" in text)
