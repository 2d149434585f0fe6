"""IP: IPv4 dotted quads and IPv6 in every written form."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from ..context import text_before, words_before
from .base import RAW_COLON, RAW_DIGIT, RAW_DOT, RAW_HEX, Candidate, Recognizer

__all__ = ["IpRecognizer"]

_NOT_IP_CONTEXT = frozenset("version ver build firmware release update sdk api python node".split())
# Words that, right before a dotted quad, say it is an address whatever came
# earlier ("Update: ping 56.1.2.3 fails").
_IP_CONTEXT = frozenset("ip ping server host router dns gateway proxy vpn address addr subnet nas camera".split())
# "Update: 86.24.1.9 is banned" is a review's edit header, not "update 10.2.0.4".
_EDIT_HEADER = re.compile(r"(?:^|[^a-z])(?:edit|update|updated)\s*:")
_EDIT_WORDS = frozenset({"update", "updated", "edit"})


class IpRecognizer(Recognizer):
    entity_type = "IP"
    placeholder = "[IP]"
    prefilter = (
        rf"{RAW_DIGIT}{{1,3}}[{RAW_DOT}]{RAW_DIGIT}{{1,3}}[{RAW_DOT}]{RAW_DIGIT}{{1,3}}[{RAW_DOT}]{RAW_DIGIT}{{1,3}}"
        rf"|[{RAW_COLON}][{RAW_HEX}]{{0,4}}[{RAW_COLON}]"
    )

    _V4 = re.compile(r"(?<![\w.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![\w]|\.[0-9])")
    # The look-ahead demands two colons early so ordinary words and times
    # ("10:30") fail in a few steps; ipaddress then rejects anything that is
    # not a real address ("12:30:45").
    _V6 = re.compile(
        r"(?<![\w:.])"
        r"(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)"
        r"[0-9A-Fa-f:]{2,39}"
        r"(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?"
        r"(?![\w:]|\.[0-9])"
    )

    def applies(self, norm: str) -> bool:
        return "." in norm or ":" in norm

    def find(self, norm: str) -> Iterator[Candidate]:
        if "." in norm:
            for m in self._V4.finditer(norm):
                try:
                    ipaddress.IPv4Address(m.group())
                except ValueError:
                    continue
                before = words_before(norm, m.start(), 2)
                negative = _NOT_IP_CONTEXT.intersection(before)
                if negative and _EDIT_HEADER.search(text_before(norm, m.start())):
                    negative = negative - _EDIT_WORDS
                if negative and not _IP_CONTEXT.intersection(before[-1:]):
                    continue
                yield self._cand(m.start(), m.end())
        if "::" in norm or norm.count(":") >= 3:
            for m in self._V6.finditer(norm):
                value = m.group()
                # Prose like "a::b" or "Note::Add" parses as IPv6 too; real
                # addresses essentially always carry a decimal digit.
                # "::1" (loopback) is the one short form common enough to keep.
                if value != "::1" and (sum(c != ":" for c in value) < 3 or not any(c.isdigit() for c in value)):
                    continue
                try:
                    ipaddress.IPv6Address(value)
                except ValueError:
                    continue
                yield self._cand(m.start(), m.end())
