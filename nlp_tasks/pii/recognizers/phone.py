"""PHONE: numbers in international and national formats (vanity numbers: vanity_phone.py)."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from typing import Final

import phonenumbers

from ..context import text_before, words_after, words_before
from .base import RAW_DIGIT, RAW_DOT, RAW_PAREN, RAW_SPACE_DASH, Candidate, Recognizer, token_start
from .phone_words import PHONE_CONTEXT, PHONE_PHRASE, WEAK_PHONE_CONTEXT, nearest_is_negative

__all__ = ["PHONE_REGIONS", "PhoneRecognizer"]


class _Verdict(enum.Enum):
    REJECT = enum.auto()


# What _judge returns for a match that is no phone number (its other answers are the
# candidate's ``validated`` value, None included).
_REJECT: Final = _Verdict.REJECT

# National formats accepted next to a phone word (issue 17): North America,
# Europe's larger markets, Australia/New Zealand, India, Brazil, Mexico, Japan.
PHONE_REGIONS: tuple[str, ...] = (
    "US",
    "CA",
    "GB",
    "IE",
    "FR",
    "DE",
    "ES",
    "IT",
    "NL",
    "BE",
    "CH",
    "AT",
    "PL",
    "SE",
    "NO",
    "DK",
    "PT",
    "AU",
    "NZ",
    "IN",
    "BR",
    "MX",
    "JP",
)

_EXT = r"(?:[ ]?(?:x|ext\.?|extn\.?|extension)[ ]?[0-9]{1,6})"


class PhoneRecognizer(Recognizer):
    """Phone numbers in international and national formats.

    Candidates are located by shape; ``phonenumbers`` decides whether the
    number exists in the numbering plan (``validated``). Numbers it does not
    know (many national formats without a country code, fictional 555s) are
    kept only when the shape is unmistakable (+CC, (area), extension, NANP
    3-3-4) or a phone word is next to them. For those, parsing is deferred
    until an overlap needs the answer, since it is the slowest step.

    ``regions`` (the national formats a global shop hears from) decide the
    one case where a phone word alone is too weak: a bare run of 10+ digits
    after "number", "text", "contact" ... ("my number is 0612345678") is a
    phone only if it is a valid national number of one of them. They are
    deliberately not used elsewhere: with 23 plans, most 9-10 digit strings
    are valid somewhere (an SSN "536-90-4399" is), so grouped digits with no
    phone word must still be valid North American numbers, and an overlap
    is still ranked by the US plan or an explicit country code.
    """

    entity_type = "PHONE"
    placeholder = "[PHONE]"
    # The pattern's own look-ahead: six digits, at most two separators apart.
    # Order numbers, tracking codes and prices ("#482913", "1Z999AA1...", "$120.50") are
    # glued to a word or symbol, so the look-behind below rules them out in C++ already.
    prefilter = token_start(r"0-9A-Za-z_+@#$/:=") + (
        rf"[+\x{{FF0B}}{RAW_PAREN}]?{RAW_DIGIT}"
        rf"(?:[{RAW_SPACE_DASH}{RAW_DOT}{RAW_PAREN}/\x{{FF0F}}]{{0,2}}{RAW_DIGIT}){{5}}"
    )

    default_region = "US"

    def __init__(self, regions: tuple[str, ...] = PHONE_REGIONS) -> None:
        unknown = sorted(set(regions) - phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(f"unknown phone regions: {unknown}")
        self.regions = tuple(regions)

    _RE = re.compile(
        # Not glued to a word, a currency amount, a URL path, a time or
        # the tail of a decimal / dashed number.
        r"(?<![\w+@#$€£¥/:=])(?<![0-9][.,\-])"
        # Cheap pre-filter: six digits close together, so house numbers,
        # zips and quantities fail before any Python runs.
        r"(?=[+(]?(?:[0-9][ ()./\-]{0,2}){5}[0-9])"
        r"(?:\+[ ]?[0-9]{1,4}[ .\-]?)?"
        r"(?:\([0-9]{1,5}\)[ .\-]?)?"
        r"[0-9]{1,15}(?:[ ./\-][0-9]{1,15}){0,7}"
        rf"(?P<ext>{_EXT})?"
        r"(?![\w@/:%$€£]|[.,\-]?[0-9])"
    )
    _DIGITS = re.compile(r"[0-9]+")

    def find(self, norm: str) -> Iterator[Candidate]:
        for m in self._RE.finditer(norm):
            # Six digits need at least six characters; skipping the call
            # keeps runs of tiny numbers ("(1)(2)(3)...") cheap.
            if m.end() - m.start() < 6:
                continue
            verdict = self._judge(norm, m)
            if verdict is not _REJECT:
                yield self._cand(m.start(), m.end(), verdict)

    def confirm(self, norm: str, cand: Candidate) -> bool:
        if cand.validated is None:
            return self._valid(norm[cand.start : cand.end], _NANP_REGIONS)
        return cand.validated

    def _judge(self, norm: str, m: re.Match[str]) -> bool | None | _Verdict:
        """_REJECT, or the ``validated`` value (None = accepted, not yet checked)."""
        cand = m.group()
        ext = m.group("ext")
        main = cand[: len(cand) - len(ext)] if ext else cand
        groups = self._DIGITS.findall(main)
        n_digits = sum(map(len, groups))
        # ITU E.164 caps numbers at 15 digits; below 6 is a quantity.
        if n_digits < 6 or n_digits > 15:
            return _REJECT
        plus = main.startswith("+")
        paren = "(" in main
        lens = [len(g) for g in groups]
        single = len(groups) == 1 and not paren

        if _looks_like_date(groups, main) or (len(groups) >= 3 and lens[-1] == 1 and not plus):
            # Dates, and ISBN-like tails: phone numbers never end in a lone digit.
            return _REJECT
        if len(groups) == 4 and max(lens) <= 3 and main.count(".") == 3 and not plus:
            # Dotted quad: an IPv4 address (or a version), never a phone.
            return _REJECT
        if n_digits < 7 and len(groups) < 3:
            # "58 2347 Main St": six digits in two blocks is a house number
            # and a zip far more often than a short local phone number.
            return _REJECT

        before = words_before(norm, m.start())
        phrase = PHONE_PHRASE.search(text_before(norm, m.start(), 40)) is not None
        if not (plus or paren or ext or phrase) and nearest_is_negative(before[-3:]):
            return _REJECT
        # Three words after: "<number> is my mobile".
        context = PHONE_CONTEXT.intersection(before).union(PHONE_CONTEXT.intersection(words_after(norm, m.end(), 3)))
        has_context = bool(context) or phrase
        if "/" in main and not has_context:
            # "06458/92441915" (German area code / subscriber) only next to a
            # phone word: bare slashed numbers are dates, fractions and ids.
            return _REJECT

        if plus:
            # Explicit country code: the numbering plan is known, so length
            # must at least be possible for that country.
            parsed = self._parse(cand, plus)
            if parsed is None or not phonenumbers.is_possible_number(parsed):
                # Unless a phone word vouches for it: "+" and a phone word are
                # evidence enough even for a number the plan does not know
                # (mistyped, or a plan newer than the metadata).
                return False if has_context and n_digits >= 8 else _REJECT
            return _is_valid(parsed)
        if single:
            # A bare run of digits is an ID, a timestamp or an amount unless a
            # phone word says otherwise.
            strong_context = bool(context - WEAK_PHONE_CONTEXT) or phrase
            if strong_context and n_digits >= 7:
                return None
            # A weak phone word ("my number is ...") and a valid national number
            # of 10+ digits (a mobile with its trunk prefix; shorter runs are
            # valid somewhere among 23 plans far too often).
            return True if context and n_digits >= 10 and self._valid(cand, self.regions) else _REJECT
        # International prefix: the rest must be long enough to hold a
        # country code and a national number ("s/n: YE8N 0082 5653" is not).
        idd = (main[:2] == "00" and main[2:3] != "0" and n_digits >= 10) or (main[:3] == "011" and n_digits >= 11)
        nanp = lens == [3, 3, 4] or (lens == [1, 3, 3, 4] and groups[0] == "1")
        if (paren or ext or idd or nanp) and n_digits >= 7 or has_context:
            # Accepted on shape/context alone; the numbering-plan check is
            # deferred until an overlap needs it (see confirm below).
            return None
        # Grouped digits with no phone word nearby: only the numbering plan
        # can vouch for them.
        return True if self._valid(cand, _NANP_REGIONS) else _REJECT

    def _valid(self, cand: str, regions: tuple[str, ...]) -> bool:
        """Valid as written with a country code or international prefix, or as
        a national number of one of ``regions``."""
        parsed = self._parse(cand, False)
        if parsed is not None and _is_valid(parsed):
            return True
        if cand.startswith(("+", "00", "011")):
            return False
        for region in regions:
            if region == self.default_region:
                continue  # _parse tried it
            try:
                num = phonenumbers.parse(cand, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number_for_region(num, region):
                return True
        return False

    def _parse(self, cand: str, plus: bool) -> phonenumbers.PhoneNumber | None:
        text = cand
        if not plus:
            # Outside North America "00"/"011" is the international prefix;
            # phonenumbers only honours the one of the default region.
            if text.startswith("011"):
                text = "+" + text[3:]
            elif text.startswith("00") and text[2:3] not in ("0", ""):
                text = "+" + text[2:]
        try:
            return phonenumbers.parse(text, None if text.startswith("+") else self.default_region)
        except phonenumbers.NumberParseException:
            return None


# +1 is shared by ~25 NANP regions and is_valid_number() tries each one in
# turn; US and Canada cover almost all real traffic at a tenth of the cost.
_NANP_REGIONS = ("US", "CA")


def _is_valid(num: phonenumbers.PhoneNumber) -> bool:
    if num.country_code == 1:
        return any(phonenumbers.is_valid_number_for_region(num, r) for r in _NANP_REGIONS)
    return phonenumbers.is_valid_number(num)


_YEAR = re.compile(r"(?:19|20)[0-9]{2}")


def _looks_like_date(groups: list[str], main: str) -> bool:
    if len(groups) != 3 or "(" in main:
        return False
    a, b, c = groups
    if len(a) == 4 and len(b) <= 2 and len(c) <= 2:
        return bool(_YEAR.fullmatch(a)) and 1 <= int(b) <= 12 and 1 <= int(c) <= 31
    if len(c) == 4 and len(a) <= 2 and len(b) <= 2:
        return bool(_YEAR.fullmatch(c)) and 1 <= int(a) <= 31 and 1 <= int(b) <= 31
    return False
