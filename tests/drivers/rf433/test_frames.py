"""The frame parser: both formats, any chunking, garbage counted; fuzzed with hypothesis."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.rf433.frames import Frame, FrameParser, Garbage, encode_binary, encode_rcswitch, ev1527, parse_line


def frames(items: list[Frame | Garbage]) -> list[Frame]:
    return [i for i in items if isinstance(i, Frame)]


def test_binary_frame() -> None:
    (f,) = FrameParser().feed(encode_binary(0x5A5A55, 9000, 310, 920))
    assert f == Frame(0x5A5A55, 24, "binary", 0, 9000, 310, 920)
    assert f.hex == "5a5a55" and ev1527(f) == (0x5A5A5, 0x5)


def test_text_lines() -> None:
    got = FrameParser().feed(b"Received 5592405 / 24bit Protocol: 1\r\nRX:ABCDEF\n0x00F00D\r\n")
    assert [(f.code, f.bits, f.source) for f in frames(got)] == [
        (5592405, 24, "rcswitch"),
        (0xABCDEF, 24, "hex"),
        (0x00F00D, 24, "hex"),
    ]
    assert frames(got)[0].protocol == 1


def test_garbage_is_reported_and_the_stream_resynchronises() -> None:
    p = FrameParser()
    noise = b"\xaa\xa4\x01\x02\x03\x04\x05\x06\x07\x08\x09\x00"  # a binary frame with a wrong end byte
    got = p.feed(noise + b"hello\r\n" + encode_binary(0x123456) + b"Received 99999999 / 24bit Protocol: 1\n")
    assert [f.code for f in frames(got)] == [0x123456]
    assert all(isinstance(g, Garbage) for g in got if not isinstance(g, Frame))
    assert len([g for g in got if isinstance(g, Garbage)]) >= 2
    assert isinstance(parse_line(b"Received 99999999 / 24bit Protocol: 1"), Garbage)  # > 24 bits
    assert isinstance(parse_line("收到".encode()), Garbage)


def test_overlong_line_is_garbage() -> None:
    p = FrameParser()
    got = p.feed(b"x" * 200)
    assert got and all(isinstance(g, Garbage) for g in got)
    assert frames(p.feed(b"\r\nRX:123456\r\n")) == [Frame(0x123456, 24, "hex")]


def test_other_binary_commands_are_not_codes() -> None:
    frame = bytearray(encode_binary(0x111111))
    frame[1] = 0xA0  # an ACK, not a received code
    (g,) = FrameParser().feed(bytes(frame))
    assert isinstance(g, Garbage) and "0xa0" in g.why


codes = st.integers(min_value=0, max_value=(1 << 24) - 1)
encoded = st.one_of(codes.map(lambda c: (c, encode_binary(c))), codes.map(lambda c: (c, encode_rcswitch(c))))


@settings(max_examples=300, deadline=None)
@given(st.lists(encoded, max_size=12), st.data())
def test_any_chunking_gives_the_same_frames(items: list[tuple[int, bytes]], data: st.DataObject) -> None:
    stream = b"".join(raw for _, raw in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    p = FrameParser()
    got: list[Frame | Garbage] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        got += p.feed(stream[last:cut])
        last = cut
    assert [f.code for f in frames(got)] == [c for c, _ in items]
    assert not [g for g in got if isinstance(g, Garbage)]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), codes)
def test_random_bytes_never_raise_and_a_good_frame_after_them_is_read(noise: bytes, code: int) -> None:
    p = FrameParser()
    for item in p.feed(noise):
        assert isinstance(item, Frame | Garbage)
    # a line end and a full binary frame (12 bytes) always bring the parser back in step
    got = p.feed(b"\r\n" + encode_binary(code) * 2)
    assert code in [f.code for f in frames(got)]
