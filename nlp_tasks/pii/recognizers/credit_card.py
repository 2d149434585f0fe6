"""CARD: payment card numbers (issuer range, length and Luhn)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum import luhn as std_luhn

from ..context import text_before, words_after, words_before
from .base import RAW_DIGIT, RAW_SPACE_DASH, Candidate, Recognizer, token_start
from .phone_words import PHONE_CONTEXT, PHONE_PHRASE, WEAK_PHONE_CONTEXT, nearest_is_negative

__all__ = ["CreditCardRecognizer"]

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
        return grouped and n >= 16 and not nearest_is_negative(words_before(norm, start)[-3:])

    def _phone_context_only(self, norm: str, start: int, end: int) -> bool:
        before = words_before(norm, start)
        if self._card_word_near(norm, start, end):
            return False
        if PHONE_PHRASE.search(text_before(norm, start, 40)):
            return True
        if PHONE_CONTEXT.difference(WEAK_PHONE_CONTEXT).intersection(words_after(norm, end, 3)):
            # "<number> is my mobile"
            return True
        for w in reversed(before[-3:]):
            if w in PHONE_CONTEXT and w not in WEAK_PHONE_CONTEXT:
                return True
        return False
