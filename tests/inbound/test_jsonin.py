"""The one JSON decoding path: size and depth caps hold before decoding, and only JsonRejected ever escapes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import jsonin
from core.jsonin import JsonRejected


def reason_of(data: bytes | str, **caps: Any) -> str:
    with pytest.raises(JsonRejected) as info:
        jsonin.loads(data, **caps)
    return info.value.reason


def test_accepts_ordinary_json() -> None:
    doc = {"a": [1, 2, {"b": "[[[{{{"}], "c": None, "d": '引号"]'}
    assert jsonin.loads(json.dumps(doc, ensure_ascii=False).encode()) == doc
    assert jsonin.loads_object(b'{"x": 1}') == {"x": 1}


def test_size_cap_is_checked_before_decoding() -> None:
    assert reason_of(b"[" * 70_000) == "too_large"  # not even looked at
    with pytest.raises(JsonRejected) as info:
        jsonin.loads(b"1" * 11, max_bytes=10)
    exc = info.value
    assert exc.reason == "too_large" and exc.status == 413


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deep_nesting_is_refused_not_a_recursion_error(depth: int) -> None:
    for opener, closer in ("[]", "{}"):
        body = (opener * depth + closer * depth) if opener == "[" else '{"a":' * depth + "1" + "}" * depth
        assert reason_of(body, max_bytes=10**7) == "too_deep"


def test_depth_at_the_cap_is_accepted_and_brackets_in_strings_do_not_count() -> None:
    assert jsonin.nesting_depth(b"[" * 32 + b"]" * 32) == 32
    assert jsonin.loads("[" * 32 + "]" * 32) is not None
    assert jsonin.nesting_depth(b'["[[[[", "\\"[[[", {"k": "}}}"}]') == 2
    assert jsonin.nesting_depth(b"42") == 0


def test_depth_scan_of_a_megabyte_is_fast() -> None:
    body = b"[" + b"[1,2,3]," * 130_000 + b"[]]"
    start = time.perf_counter()
    assert jsonin.nesting_depth(body) == 2
    assert time.perf_counter() - start < 1.0


def test_other_refusals() -> None:
    assert reason_of(b"\xff\xfe") == "not_json"
    assert reason_of(b"{nope") == "not_json"
    assert reason_of(b"") == "not_json"
    with pytest.raises(JsonRejected) as info:
        jsonin.loads_object(b"[1]")
    assert info.value.reason == "not_object" and info.value.status == 400
    assert reason_of(b'{"a":1,"a":2}', unique_keys=True) == "duplicate_key"
    assert jsonin.loads(b'{"a":1,"a":2}') == {"a": 2}


def test_excerpt_is_short_escaped_and_says_how_long_the_input_was() -> None:
    hostile = "A\x1b[31m\n\r\x00" + "x" * 10_000
    shown = jsonin.excerpt(hostile)
    assert len(shown) < 260 and "\x1b" not in shown and "\n" not in shown and "\x00" not in shown
    assert "\\x1b" in shown and shown.endswith("(10009 in all)")
    assert jsonin.excerpt(b"\xff\xfeok") == "'\\xff\\xfeok'"
    assert jsonin.excerpt("平安") == "'平安'"
    assert jsonin.excerpt(None) == "''"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300)
    | JSON.map(lambda v: json.dumps(v).encode())
    | st.integers(1, 5000).map(lambda n: b"[" * n)
    | st.integers(1, 5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
)
def test_only_json_rejected_escapes(data: bytes) -> None:
    try:
        jsonin.loads(data)
    except JsonRejected as exc:
        assert exc.status in (400, 413)
