"""PHONE: North American toll-free numbers spelled with letters (1-800-FLOWERS)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

from ..context import words_before
from .base import RAW_DIGIT, RAW_DOT, RAW_LETTER, RAW_PAREN, RAW_SPACE_DASH, Candidate, Recognizer, token_start
from .phone_words import PHONE_CONTEXT

__all__ = ["VanityPhoneRecognizer"]


class VanityPhoneRecognizer(Recognizer):
    """North American toll-free numbers spelled with letters: 1-800-FLOWERS.

    A separate class because its evidence is different: the digits are too
    few for PhoneRecognizer's six-digit shape. Only the toll-free area codes
    (where vanity numbers live), letters after them, and the NANP plan
    (``phonenumbers`` after the keypad mapping) must all agree. Letters must
    start upper-case ("800-pound gorilla", "800-calorie meal" stay prose), and a
    bare "800-Word" needs a leading 1, brackets, all capitals or a phone word.
    """

    entity_type = "PHONE"
    placeholder = "[PHONE]"
    # A toll-free area code, then a letter within six bracket/separator/digit characters.
    prefilter = (
        token_start(r"0-9A-Za-z_+")
        + rf"[8\x{{FF18}}]{RAW_DIGIT}{{2}}[{RAW_PAREN}{RAW_SPACE_DASH}{RAW_DOT}{RAW_DIGIT}]{{0,6}}[{RAW_LETTER}]"
    )

    _RE = re.compile(
        r"(?<![\w+])"
        r"(?P<one>1[ .\-]?)?"
        r"(?:\((?P<pc>8(?:00|33|44|55|66|77|88))\)|(?P<ac>8(?:00|33|44|55|66|77|88)))"
        r"[ .\-]?"
        # Dashes only inside: "1-800-CONTACTS.com" ends at the dot.
        r"(?P<sub>(?:[0-9]{1,3}-?)?[A-Z][A-Za-z0-9]{1,9}(?:-[A-Za-z0-9]{1,9}){0,2})"
        r"(?![\w])"
    )

    def applies(self, norm: str) -> bool:
        return "8" in norm

    def find(self, norm: str) -> Iterator[Candidate]:
        for m in self._RE.finditer(norm):
            sub = m.group("sub")
            alnum = [c for c in sub if c.isalnum()]
            letters = sum(c.isalpha() for c in alnum)
            if len(alnum) < 7 or letters < 3:
                continue
            shouty = all(c.isupper() for c in alnum if c.isalpha())
            if not (m.group("one") or m.group("pc") or shouty) and not PHONE_CONTEXT.intersection(
                words_before(norm, m.start())
            ):
                continue
            area = m.group("pc") or m.group("ac")
            # Digits past the seventh are decoration ("1-800-FLOWERSS" dials the same number).
            digits = phonenumbers.convert_alpha_characters_in_number("".join(alnum).upper())[:7]
            try:
                num = phonenumbers.parse("+1" + area + digits, None)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number_for_region(num, "US"):
                yield self._cand(m.start(), m.end())
