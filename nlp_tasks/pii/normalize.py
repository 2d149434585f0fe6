"""Offset-preserving normalisation of text before pattern matching.

Recognizers only ever look at ASCII digits, ASCII separators and ASCII
punctuation. Reviews arrive with full-width digits (pasted from CJK input
methods), non-breaking/thin spaces (copied from web pages) and typographic
dashes (auto-corrected by word processors). Mapping every such character to
exactly ONE ASCII character means index ``i`` in the normalised copy is index
``i`` in the original, so no offset bookkeeping is needed anywhere else.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize"]


def _build_table() -> dict[int, int]:
    table: dict[int, int] = {}
    # Planes 0 and 1 hold every decimal digit, space and dash Unicode
    # defines; skipping the rest makes the one-off build ~10x cheaper.
    for cp in range(0x80, 0x20000):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat == "Nd":
            # Any script's decimal digit (full-width, Arabic-Indic, ...).
            table[cp] = ord("0") + unicodedata.decimal(ch)
        elif cat == "Zs":
            # NBSP, narrow NBSP, figure space, thin space, ideographic space...
            table[cp] = ord(" ")
        elif cat == "Pd" or cp == 0x2212:
            # Hyphen, non-breaking hyphen, en/em dash, minus sign, small/full-width hyphen-minus.
            table[cp] = ord("-")
    # Full-width ASCII block (U+FF01..U+FF5E) mirrors U+0021..U+007E: letters,
    # '@', '+', '(', ')', '.', ':' all matter to the recognizers.
    for cp in range(0xFF01, 0xFF5F):
        table[cp] = cp - 0xFEE0
    # Dots that people type in phone numbers and IPs.
    for cp in (0x2024, 0xFE52, 0x3002, 0xFF61):
        table[cp] = ord(".")
    return table


# (translation table, regex matching any mapped character). One tuple so a
# concurrent first call can never observe half of it.
_STATE: tuple[dict[int, int], re.Pattern[str]] | None = None


def _char_class(codepoints: list[int]) -> str:
    """Compact "[a-bc-d...]" class for sorted code points."""
    ranges = []
    lo = prev = codepoints[0]
    for cp in codepoints[1:]:
        if cp != prev + 1:
            ranges.append((lo, prev))
            lo = cp
        prev = cp
    ranges.append((lo, prev))
    parts = (re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return "[" + "".join(parts) + "]"


def normalize(text: str) -> str:
    """Return a same-length copy of ``text`` with look-alike characters mapped to ASCII.

    Pure-ASCII input (the vast majority) is returned as-is without copying.
    """
    if text.isascii():
        return text
    global _STATE
    if _STATE is None:
        # Built lazily (tens of ms, once): many workers never see non-ASCII text.
        table = _build_table()
        _STATE = (table, re.compile(_char_class(sorted(table))))
    table, mapped = _STATE
    # Accented names and emoji are common, look-alike digits are not; a C
    # search is much cheaper than translating char by char through a dict.
    if mapped.search(text) is None:
        return text
    out = text.translate(table)
    # Guard the invariant every offset in this package relies on.
    assert len(out) == len(text)
    return out
