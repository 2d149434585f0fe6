"""Context-word lookups around a candidate span.

Several identifiers (short phone numbers, bare 9-digit SSNs) are
indistinguishable from ordinary numbers by shape alone; the words next to
them are the only evidence. Windows are bounded so the cost per candidate is
constant and the whole pass stays linear in the text length.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z]+")

# Characters scanned on each side. Long enough for "you can reach me on", short
# enough not to pick up a keyword from an unrelated earlier sentence.
_BEFORE_CHARS = 32
_AFTER_CHARS = 16


def words_before(norm: str, start: int, n: int = 4) -> list[str]:
    window = norm[max(0, start - _BEFORE_CHARS) : start].lower()
    words = _WORD.findall(window)
    # The first word may be cut in half by the window edge; it is still a
    # useful hint only if it survives intact, so drop it when truncated.
    lo = start - _BEFORE_CHARS
    if lo > 0 and words and norm[lo - 1 : lo + 1].isalpha():
        words = words[1:]
    return words[-n:]


def words_after(norm: str, end: int, n: int = 2) -> list[str]:
    window = norm[end : end + _AFTER_CHARS].lower()
    words = _WORD.findall(window)
    hi = end + _AFTER_CHARS
    if hi < len(norm) and words and norm[hi - 1 : hi + 1].isalpha():
        words = words[:-1]
    return words[:n]


def text_before(norm: str, start: int, chars: int = _BEFORE_CHARS) -> str:
    return norm[max(0, start - chars) : start].lower()
