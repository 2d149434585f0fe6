"""One recognizer per entity type (Presidio-style).

Each recognizer scans the *normalised* copy of a text (see ``normalize``) and
yields ``Candidate`` spans. Candidates may overlap; the registry picks the
winners. Every regex here is written so that the engine has a bounded amount
of work per start position (bounded quantifiers, no nested unbounded repeats,
and a look-behind that only lets a match start at the beginning of a token),
which keeps a scan linear in the text length.

Checksums and number plans come from libraries (``phonenumbers``,
``python-stdnum``, ``ipaddress``), never from home-made arithmetic.
"""

from __future__ import annotations

import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn as std_luhn
from stdnum.us import ssn as std_ssn

from .context import text_before, words_after, words_before

__all__ = [
    "Candidate",
    "Recognizer",
    "EmailRecognizer",
    "PhoneRecognizer",
    "CreditCardRecognizer",
    "UsSsnRecognizer",
    "IpRecognizer",
    "IbanRecognizer",
    "VanityPhoneRecognizer",
    "PHONE_REGIONS",
    "default_recognizers",
]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible entity. Holds offsets only, never the matched characters."""

    type: str
    start: int
    end: int
    # True when a library check (checksum, number plan, address parser)
    # confirmed the value; such spans win overlaps against shape-only guesses.
    # None means "not checked yet": the check is costly and only matters if
    # the span collides with another, so the registry asks ``confirm`` then.
    validated: bool | None


# Character classes for batch prefilters (RE2 syntax, run by pyarrow on the RAW text).
# normalize() maps each of these one-to-one onto the ASCII character recognizers look for,
# so a prefilter written with them matches wherever the recognizer's pattern could match
# the normalised text.
RAW_DIGIT = r"\p{Nd}"
RAW_SPACE_DASH = r"\p{Zs}\p{Pd}\x{2212}"
RAW_DOT = r".\x{FF0E}\x{2024}\x{FE52}\x{3002}\x{FF61}"
RAW_PAREN = r"()\x{FF08}\x{FF09}"
RAW_COLON = r":\x{FF1A}"
RAW_LETTER = r"A-Za-z\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}"
RAW_HEX = r"\p{Nd}A-Fa-f\x{FF21}-\x{FF26}\x{FF41}-\x{FF46}"


def token_start(excluded: str) -> str:
    """RE2 stand-in for a recognizer's look-behind ``(?<![...])`` (RE2 has none): start of
    text or one character that is not an ASCII member of ``excluded``. normalize() leaves
    ASCII alone, so such a character blocks the match on the normalised text too; non-ASCII
    characters always pass, which keeps the prefilter a necessary condition."""
    return rf"(?:^|[^{excluded}])"


TOKEN_END = r"(?:$|[^0-9A-Za-z_])"  # the same for a look-ahead (?![\w]...) after the match


class Recognizer(ABC):
    entity_type: ClassVar[str]
    placeholder: ClassVar[str]
    # An RE2 pattern that matches the raw text whenever ``find`` could yield a candidate
    # on its normalised form (a necessary condition, never a sufficient one). Batches run
    # it over the whole column in C++ and call ``find`` only where it matched. None: always.
    prefilter: ClassVar[str | None] = None

    def applies(self, norm: str) -> bool:
        """Cheap whole-text test so most texts skip the regex entirely."""
        return True

    @abstractmethod
    def find(self, norm: str) -> Iterator[Candidate]:
        """Yield candidates found in the normalised text."""

    def confirm(self, norm: str, cand: Candidate) -> bool:
        """Run the deferred library check for a candidate with ``validated=None``."""
        return bool(cand.validated)

    def _cand(self, start: int, end: int, validated: bool | None = True) -> Candidate:
        return Candidate(self.entity_type, start, end, validated)


# --------------------------------------------------------------------- EMAIL


class EmailRecognizer(Recognizer):
    entity_type = "EMAIL"
    placeholder = "[EMAIL]"
    prefilter = r"[@\x{FF20}]"

    # The look-behind forces the local part to start at the beginning of a
    # run of local-part characters, so a long run without '@' is tried once,
    # not once per character (which would be quadratic).
    _RE = re.compile(
        r"(?<![A-Za-z0-9._%+\-])"
        r"[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}"
        r"@"
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}"
        r"[A-Za-z]{2,63}"
        r"(?![A-Za-z0-9\-]|\.[A-Za-z0-9])"
    )

    def applies(self, norm: str) -> bool:
        return "@" in norm

    def find(self, norm: str) -> Iterator[Candidate]:
        for m in self._RE.finditer(norm):
            local = m.group().split("@", 1)[0]
            # RFC 5321 dot-atom rules; anything else is a handle or a typo.
            if local.endswith(".") or ".." in local:
                continue
            yield self._cand(m.start(), m.end())


# --------------------------------------------------------------------- PHONE

# Words that, next to a number, make it a phone number.
_PHONE_CONTEXT = frozenset(
    """phone phones ph tel tele telephone telefon call calls called calling
    ring cell cellphone mobile mob fax office landline contact reach dial
    text sms whatsapp hotline helpline voicemail answer answering number
    message messages msg viber telegram imessage
    telefono telefone telefoon telefonnummer rufnummer natel movil celular cellulare mobil mobiel tlf""".split()
)
# Phrases that make even a weak word ("reach", "text", "number") a phone
# word: "reach me on", "text me at", "send messages to", "registered number".
_PHONE_PHRASE = re.compile(
    r"(?:reach|text|ring|message|msg|call|phone|contact)\s+(?:me|us)\b"
    r"|messages?\s+to\s*$"
    # The verb right before the number: "Text 0790756277 for the code".
    r"|(?:^|[^a-z])(?:text|sms|ring|whatsapp)\s*:?\s*$"
    r"|(?:registered|contact|mobile|phone|cell|telephone|whatsapp|callback|call-back)\s+(?:number|no\.?|#)"
)
# Too common in other senses ("the number 1234567", "text me 12 times") to
# vouch on their own for an unbroken run of digits.
_WEAK_PHONE_CONTEXT = frozenset("number text answer answering office contact reach ring".split())
# Words that, just before a number, make it something else. The keyword
# nearest the number decides, weak phone words aside: "order number
# 12 345 678" is an order, "card ..., call 415 555 2671" is a phone.
_NOT_PHONE_CONTEXT = frozenset(
    """order orders invoice inv tracking track shipment parcel isbn sku upc
    ean asin imei model serial sn ref reference zip postcode postal version
    ver build firmware release item part po ticket case confirmation booking
    receipt transaction txn id account acct iban ssn social security card visa
    mastercard amex price total cost usd eur date dob born pin code batch
    lot page pages chapter room license licence dl passport driver tax vat
    policy member membership customer routing bank sort ip""".split()
)

_REJECT = object()

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
    prefilter = (
        token_start(r"0-9A-Za-z_+@#$/:=")
        + rf"[+\x{{FF0B}}{RAW_PAREN}]?{RAW_DIGIT}(?:[{RAW_SPACE_DASH}{RAW_DOT}{RAW_PAREN}/\x{{FF0F}}]{{0,2}}{RAW_DIGIT}){{5}}"
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

    def _judge(self, norm: str, m: re.Match[str]) -> object:
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
        phrase = _PHONE_PHRASE.search(text_before(norm, m.start(), 40)) is not None
        if not (plus or paren or ext or phrase) and _nearest_is_negative(before[-3:]):
            return _REJECT
        # Three words after: "<number> is my mobile".
        context = _PHONE_CONTEXT.intersection(before).union(_PHONE_CONTEXT.intersection(words_after(norm, m.end(), 3)))
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
            strong_context = bool(context - _WEAK_PHONE_CONTEXT) or phrase
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
            # deferred until an overlap needs it (see Recognizer.confirm).
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


def _nearest_is_negative(before: list[str]) -> bool:
    # The keyword closest to the number describes it: in "card ..., call
    # 415-555-2671" the "call" wins over the earlier "card".
    # Weak words ("number") defer to what precedes them ("order number").
    for w in reversed(before):
        if w in _PHONE_CONTEXT and w not in _WEAK_PHONE_CONTEXT:
            return False
        if w in _NOT_PHONE_CONTEXT:
            return True
    return False


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
            if not (m.group("one") or m.group("pc") or shouty) and not _PHONE_CONTEXT.intersection(
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


# ---------------------------------------------------------------------- CARD

# (prefix low, prefix high, allowed lengths) per issuer range. Luhn alone
# accepts one random number in ten; requiring an issuer range and one of its
# lengths is what keeps timestamps and order numbers out.
_CARD_ISSUERS: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({13, 16, 19})),  # Visa
    ("51", "55", frozenset({16})),  # Mastercard
    ("2221", "2720", frozenset({16})),  # Mastercard 2-series
    ("34", "34", frozenset({15})),  # American Express
    ("37", "37", frozenset({15})),  # American Express
    ("6011", "6011", frozenset(range(16, 20))),  # Discover
    ("644", "649", frozenset(range(16, 20))),  # Discover
    ("65", "65", frozenset(range(16, 20))),  # Discover / RuPay
    ("622126", "622925", frozenset(range(16, 20))),  # Discover co-branded UnionPay
    ("62", "62", frozenset(range(16, 20))),  # UnionPay
    ("81", "82", frozenset(range(16, 20))),  # UnionPay / RuPay
    ("300", "305", frozenset(range(14, 20))),  # Diners Club International
    ("3095", "3095", frozenset(range(14, 20))),  # Diners Club
    ("36", "36", frozenset(range(14, 20))),  # Diners Club
    ("38", "39", frozenset(range(14, 20))),  # Diners Club
    ("3528", "3589", frozenset(range(16, 20))),  # JCB
    ("2200", "2204", frozenset(range(16, 20))),  # Mir
    ("60", "60", frozenset({16})),  # RuPay
    ("508", "508", frozenset({16})),  # RuPay
    ("5018", "5018", frozenset(range(12, 20))),  # Maestro
    ("5020", "5020", frozenset(range(12, 20))),  # Maestro
    ("5038", "5038", frozenset(range(12, 20))),  # Maestro
    ("5893", "5893", frozenset(range(12, 20))),  # Maestro
    ("6304", "6304", frozenset(range(12, 20))),  # Maestro
    ("6759", "6759", frozenset(range(12, 20))),  # Maestro UK
    ("6761", "6763", frozenset(range(12, 20))),  # Maestro
    ("636", "639", frozenset(range(16, 20))),  # InterPayment / InstaPayment
    ("506099", "506198", frozenset({16, 18, 19})),  # Verve
    ("650002", "650027", frozenset({16, 18, 19})),  # Verve
    ("9792", "9792", frozenset({16})),  # Troy
)


# Broad ranges: Maestro's whole 50 / 56-69 block (which also holds the
# national debit schemes: Elo, RuPay, Troy, Verve, Dankort, Iran's Shetab
# banks, ...), Ukraine's Prostir and Uzbekistan's Humo (9), UzCard (8600),
# and JCB's legacy 15-digit 1800 / 2131. One random Luhn-valid run in four
# of 12-19 digits lands in them, so here the range and Luhn are not enough on
# their own: the number must also sit next to a card word, or be printed the
# way a card is (four-digit blocks, 16+ digits).
_BROAD_CARD_ISSUERS: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("50", "50", frozenset(range(12, 20))),
    ("56", "69", frozenset(range(12, 20))),
    ("9", "9", frozenset({16})),
    ("8600", "8600", frozenset({16})),
    ("1800", "1800", frozenset({15})),
    ("2131", "2131", frozenset({15})),
    # JCB holds only 3528-3589 (strong table), but generators and test-card
    # lists write "any 35" as JCB; harmless with the extra evidence asked here.
    ("35", "35", frozenset(range(16, 20))),
    # Listed as Maestro by older detection tables (and by Faker).
    ("0604", "0604", frozenset(range(12, 20))),
)

_CARD_CONTEXT = frozenset(
    """card cards cc ccn credit debit visa mastercard maestro amex jcb diners discover unionpay
    mir rupay elo troy prostir verve cvv cvc cvv2 exp expiry expires""".split()
)


_BARCODE_CONTEXT = frozenset("ean ean13 upc gtin barcode imei isbn".split())


def _issuer_accepts(digits: str, table: tuple[tuple[str, str, frozenset[int]], ...] = _CARD_ISSUERS) -> bool:
    n = len(digits)
    for lo, hi, lengths in table:
        if n in lengths and lo <= digits[: len(lo)] <= hi:
            return True
    return False


# One more block of digits after the match, other than an expiry date ("12/27").
_GROUPED_TAIL = re.compile(r"[ \-][0-9]{2,}(?![0-9/])")


class CreditCardRecognizer(Recognizer):
    entity_type = "CARD"
    placeholder = "[CARD]"
    # 12+ digits (Maestro starts at 12), at most one separator apart (both shapes below need that).
    prefilter = token_start(r"0-9A-Za-z_.,\-") + rf"{RAW_DIGIT}(?:[{RAW_SPACE_DASH}]?{RAW_DIGIT}){{11}}"

    # Either one unbroken run, or groups that all use the same separator
    # (4-4-4-4, 4-6-5, 4-3-3-3, 4-4-4-4-3 ...). Requiring one consistent separator
    # stops a card from being stitched together out of neighbouring numbers.
    _RE = re.compile(
        r"(?<![\w.,\-])"
        r"(?:[0-9]{12,19}|[0-9]{4}(?P<sep>[ \-])[0-9]{3,6}(?:(?P=sep)[0-9]{1,6}){1,3})"
        r"(?![\w]|[.,\-]?[0-9])"
    )

    def find(self, norm: str) -> Iterator[Candidate]:
        for m in self._RE.finditer(norm):
            start, raw = m.start(), m.group()
            sep = m.group("sep")
            # A grouped match may have swallowed a following short number ("4242 4242
            # 4242 4242 12/27": the expiry month); retry without trailing groups.
            for retry in range(3 if sep else 1):
                # Only a short tail may be dropped; more digit blocks mean a longer id.
                if retry and _GROUPED_TAIL.match(norm, start + len(raw)):
                    break
                if self._accept(norm, start, raw):
                    yield self._cand(start, start + len(raw))
                    break
                cut = raw.rfind(sep) if sep else -1
                if cut < 0:
                    break
                raw = raw[:cut]

    def _accept(self, norm: str, start: int, raw: str) -> bool:
        end = start + len(raw)
        digits = raw.replace(" ", "").replace("-", "")
        if not 12 <= len(digits) <= 19 or not std_luhn.is_valid(digits):
            return False
        grouped = len(digits) != len(raw)
        if not grouped and _BARCODE_CONTEXT.intersection(words_before(norm, start, 2)):
            # "EAN 4117464968732": barcodes and IMEIs are fixed-length codes
            # (IMEIs even use Luhn) that a shop's text names as such. Deliberately
            # NOT order/invoice/tracking: a Luhn-valid number in a card range
            # pasted after "order" is still a leaked card number.
            return False
        if not grouped and self._phone_context_only(norm, start, end):
            # "my phone is 4864559214361": a bare run that a phone word
            # describes is a phone number (msisdn) even if Luhn passes.
            return False
        if len(digits) >= 13 and _issuer_accepts(digits):
            return True
        return _issuer_accepts(digits, _BROAD_CARD_ISSUERS) and self._broad_ok(norm, start, end, grouped, len(digits))

    @staticmethod
    def _card_word_near(norm: str, start: int, end: int) -> bool:
        return bool(_CARD_CONTEXT.intersection(words_before(norm, start, 5))) or bool(
            _CARD_CONTEXT.intersection(words_after(norm, end, 2))
        )

    def _broad_ok(self, norm: str, start: int, end: int, grouped: bool, n: int) -> bool:
        # A 4-block group next to more digit blocks ("9400 1234 5678 9012 3456 78",
        # a USPS tracking number) is a piece of a longer number, not a card.
        if _GROUPED_TAIL.match(norm, end) or (start >= 2 and norm[start - 1] in " -" and norm[start - 2].isdigit()):
            return False
        if self._card_word_near(norm, start, end):
            return True
        return grouped and n >= 16 and not _nearest_is_negative(words_before(norm, start)[-3:])

    def _phone_context_only(self, norm: str, start: int, end: int) -> bool:
        before = words_before(norm, start)
        if self._card_word_near(norm, start, end):
            return False
        if _PHONE_PHRASE.search(text_before(norm, start, 40)):
            return True
        if _PHONE_CONTEXT.difference(_WEAK_PHONE_CONTEXT).intersection(words_after(norm, end, 3)):
            # "<number> is my mobile"
            return True
        for w in reversed(before[-3:]):
            if w in _PHONE_CONTEXT and w not in _WEAK_PHONE_CONTEXT:
                return True
        return False


# ----------------------------------------------------------------------- SSN

_SSN_CONTEXT = re.compile(r"\b(?:ssn|ssns|ss#|ss\s?no|s\.s\.n|social\s+security|soc\.?\s*sec|taxpayer)\b|ss#")


class UsSsnRecognizer(Recognizer):
    """US Social Security Numbers.

    The dashed 3-2-4 form is distinctive enough on its own; spaced, dotted
    and bare 9-digit forms look like any other number, so they need an SSN
    keyword just before them. stdnum rejects impossible areas/groups/serials
    and the well-known advertising/sample numbers.
    """

    entity_type = "SSN"
    placeholder = "[SSN]"
    prefilter = token_start(r"0-9A-Za-z_.,/\-") + (
        rf"{RAW_DIGIT}{{3}}[{RAW_SPACE_DASH}{RAW_DOT}]?{RAW_DIGIT}{{2}}[{RAW_SPACE_DASH}{RAW_DOT}]?{RAW_DIGIT}{{4}}"
        + TOKEN_END
    )

    _RE = re.compile(
        r"(?<![\w.,/\-])"
        r"[0-9]{3}(?P<sep>[\- .]?)[0-9]{2}(?P=sep)[0-9]{4}"
        r"(?![\w]|[.,/\-]?[0-9])"
    )

    def find(self, norm: str) -> Iterator[Candidate]:
        for m in self._RE.finditer(norm):
            if m.group("sep") != "-" and not _SSN_CONTEXT.search(text_before(norm, m.start(), 40)):
                continue
            if std_ssn.is_valid(m.group().replace(" ", "").replace(".", "")):
                yield self._cand(m.start(), m.end())


# ------------------------------------------------------------------------ IP

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


# ---------------------------------------------------------------------- IBAN


class IbanRecognizer(Recognizer):
    entity_type = "IBAN"
    placeholder = "[IBAN]"
    prefilter = token_start("0-9A-Za-z") + rf"[{RAW_LETTER}]{{2}}{RAW_DIGIT}{{2}}"

    # Compact, or printed in blocks of four separated by spaces or (as
    # copied from some banking apps) dashes, one separator throughout.
    # stdnum checks the country's length/BBAN format and the ISO 7064
    # mod-97 check digits.
    _RE = re.compile(
        r"(?<![A-Za-z0-9])"
        r"[A-Za-z]{2}[0-9]{2}"
        r"(?:(?P<sep>[ \-]?)[A-Za-z0-9]{4})(?:(?P=sep)[A-Za-z0-9]{4}){1,7}"
        r"(?:(?P=sep)[A-Za-z0-9]{1,4})?"
        r"(?![A-Za-z0-9])"
    )

    def find(self, norm: str) -> Iterator[Candidate]:
        for m in self._RE.finditer(norm):
            value = m.group()
            sep = m.group("sep")
            # A spaced IBAN may have swallowed the next short word ("... 32
            # Bank"); retry without trailing blocks before giving up.
            for _ in range(3):
                if std_iban.is_valid(value.replace("-", "")):
                    yield self._cand(m.start(), m.start() + len(value))
                    break
                cut = value.rfind(sep) if sep else -1
                if cut < 0:
                    break
                value = value[:cut]


def default_recognizers() -> list[Recognizer]:
    return [
        EmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        UsSsnRecognizer(),
        IpRecognizer(),
        IbanRecognizer(),
        VanityPhoneRecognizer(),
    ]
