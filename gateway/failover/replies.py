"""Reading an SMS reply: does it acknowledge the alarm? ("1", "收到", "好", "ok", whatever the case or width.)"""

from __future__ import annotations

import unicodedata

#: What counts as "I have it", after NFKC (full-width to half-width), case folding and trimming.
ACK_WORDS = frozenset({"1", "收到", "好", "ok", "okay", "好的", "已收到", "收到了", "y", "yes"})
_TRIM = " \t\r\n.。!！,，~～"
#: A reply longer than this is a message, not an acknowledgement.
MAX_ACK_CHARS = 16


def is_ack(text: str) -> bool:
    """True if ``text`` is an acknowledgement."""
    if len(text) > 4 * MAX_ACK_CHARS:
        return False
    word = unicodedata.normalize("NFKC", text).casefold().strip(_TRIM)
    return len(word) <= MAX_ACK_CHARS and word in ACK_WORDS
