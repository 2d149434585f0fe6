"""Hand-written cases for the recognizer classes added for issue 17.

Card networks beyond Visa/Mastercard/Amex/Discover, national-format phone
numbers next to a phone word, vanity numbers, dashed/spaced IBANs, compressed
IPv6. Self-contained: card numbers are completed with the Luhn check digit
here so each case states its prefix and length.
"""

from __future__ import annotations

import pytest
from stdnum import luhn

from nlp_tasks.pii import redact, redact_batch
from nlp_tasks.pii.recognizers import PHONE_REGIONS, PhoneRecognizer


def luhn_number(prefix: str, length: int) -> str:
    body = prefix + "1234567890123456789"[: length - len(prefix) - 1]
    return body + luhn.calc_check_digit(body)


def spans(text: str) -> list[tuple[str, str]]:
    return [(e.type, text[e.start : e.end]) for e in redact(text).entities]


def grouped(digits: str, sep: str = " ") -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


# ---------------------------------------------------------------------- CARD

JCB16 = "3530111333300000"  # JCB's published test number (3528-3589)
JCB15 = luhn_number("1800", 15)  # JCB legacy 15-digit range
MAESTRO12 = luhn_number("6759", 12)  # Maestro UK, 12 digits (the shortest card there is)
MIR = luhn_number("2200", 16)
UNIONPAY19 = luhn_number("62", 19)
DINERS14 = "30569309025904"
TROY = luhn_number("9792", 16)
RUPAY = luhn_number("6076", 16)
ELO = luhn_number("6362", 16)
PROSTIR = luhn_number("9", 16)


@pytest.mark.parametrize(
    "text, value",
    [
        # Narrow ranges of the major networks: range + length + Luhn is enough, no word needed.
        (f"{JCB16} was charged twice", JCB16),
        (f"they charged {grouped(MIR)} again", grouped(MIR)),
        (f"refund {UNIONPAY19} please", UNIONPAY19),
        (f"{grouped(UNIONPAY19, '-')} declined", grouped(UNIONPAY19, "-")),
        ("charged 3056 930902 5904 today", "3056 930902 5904"),
        (f"Troy {TROY}", TROY),
        # Broad ranges (Maestro 50/56-69 and the national schemes in it, 9-series, JCB legacy
        # 1800/2131): next to a card word...
        (f"paid with my maestro card {MAESTRO12}", MAESTRO12),
        (f"card number: {grouped(MAESTRO12)}", grouped(MAESTRO12)),
        (f"my JCB card {JCB15} expired", JCB15),
        (f"RuPay debit {RUPAY}", RUPAY),
        (f"elo card {ELO}", ELO),
        (f"my card {PROSTIR} was blocked", PROSTIR),
        # An expiry date right after the number is not "more digit blocks".
        (f"card {grouped(MAESTRO12)} 12/27", grouped(MAESTRO12)),
        ("visa 4242 4242 4242 4242 09/27", "4242 4242 4242 4242"),
        # ...or printed like a card (four-digit blocks, 16+ digits).
        (f"they charged {grouped(RUPAY)} twice", grouped(RUPAY)),
    ],
)
def test_card_networks(text, value):
    assert spans(text) == [("CARD", value)]


def test_luhn_valid_visa_after_order_is_still_a_card():
    # Decided on purpose: a Luhn-valid, 16-digit number in Visa's range is a card number even
    # after "order". People paste card numbers into the wrong field; an order number that
    # passes Luhn AND has a Visa prefix and length is far rarer than the leak we would miss.
    assert spans("order 4111111111111111 shipped") == [("CARD", "4111111111111111")]


@pytest.mark.parametrize(
    "text",
    [
        # Broad-range numbers with neither a card word nor card-style grouping: ids, not cards.
        f"reference {MAESTRO12} on the box",
        f"{JCB15} is the parcel code",
        f"item {luhn_number('5899', 16)}",  # Maestro block 56-69, no word, unbroken
        # Grouped, broad range, but part of a longer run of blocks (a USPS tracking number).
        f"tracking {grouped(PROSTIR)} 1234 56",
        # Barcodes name themselves; EAN-13 starting 4 can pass Luhn by chance.
        f"EAN {luhn_number('400638', 13)} on the label",
        f"IMEI {luhn_number('35', 15)}",
    ],
)
def test_card_negatives(text):
    assert [t for t, _ in spans(text)] == []


def test_msisdn_next_to_phone_word_is_a_phone_not_a_card():
    number = luhn_number("4", 13)  # also a Luhn-valid Visa-13
    assert spans(f"my phone is {number}") == [("PHONE", number)]
    assert spans(f"my card is {number}") == [("CARD", number)]


# --------------------------------------------------------------------- PHONE


@pytest.mark.parametrize(
    "text, value",
    [
        ("call me on 020 7946 0958", "020 7946 0958"),  # UK national
        ("call me on 07700 900123", "07700 900123"),  # UK mobile
        ("whatsapp 06 12 34 56 78", "06 12 34 56 78"),  # FR
        ("Tel. 06458/92441915", "06458/92441915"),  # DE area code / subscriber
        ("ring 0412 345 678", "0412 345 678"),  # AU
        ("call 090-1234-5678 after 6", "090-1234-5678"),  # JP
        ("text me at 98765 43210", "98765 43210"),  # IN
        ("whatsapp (11) 91234-5678", "(11) 91234-5678"),  # BR
        ("send messages to 5511987654321", "5511987654321"),  # msisdn
        ("Text 0790756277 for the code", "0790756277"),
        ("you can reach me on 0612345678", "0612345678"),
        ("my registered number is 0471234567", "0471234567"),
        ("Anna, 33 54 09 32 is my mobile", "33 54 09 32"),
        ("whatsapp +58(5)3751011589", "+58(5)3751011589"),  # not in the plan, but + and a phone word
    ],
)
def test_national_phone_with_phone_word(text, value):
    assert spans(text) == [("PHONE", value)]


@pytest.mark.parametrize(
    "number, region",
    [
        ("02079460958", "GB"),
        ("0612345678", "FR"),
        ("0412345678", "AU"),
        ("09012345678", "JP"),
        ("9876543210", "IN"),
        ("11912345678", "BR"),
    ],
)
def test_weak_phone_word_needs_a_valid_number_of_a_configured_region(number, region):
    # "number" alone is too weak a word for a bare run of digits; a run that is a
    # valid national number of a configured region is a phone, checked per region.
    text = f"my number is {number}, thanks"
    assert spans(text) == [("PHONE", number)]
    assert list(PhoneRecognizer(regions=(region,)).find(text))
    assert not list(PhoneRecognizer(regions=("US",)).find(text))


def test_weak_phone_word_and_an_invalid_run_is_left():
    assert spans("the number 12345678 was printed on the box") == []  # too short
    assert spans("the number 0000000000 was printed on the box") == []  # valid nowhere
    assert spans("my social security number is 536904399") == [("SSN", "536904399")]


def test_phone_regions_are_checked():
    assert "JP" in PHONE_REGIONS and "NZ" in PHONE_REGIONS
    with pytest.raises(ValueError, match="XX"):
        PhoneRecognizer(regions=("GB", "XX"))


@pytest.mark.parametrize(
    "text",
    [
        # National formats without a country code and without a phone word: ids by the rule.
        "07700 900123 thanks",
        "ref 06458/92441915",
        "rated 4/5 and 06458/92441915",
        "batch 0612 3456 78",
        "order number 12 345 678",
    ],
)
def test_national_phone_without_phone_word_is_left(text):
    assert spans(text) == []


@pytest.mark.parametrize(
    "text, value",
    [
        ("Call 1-800-FLOWERS today", "1-800-FLOWERS"),
        ("ordered via (800) FLOWERS.", "(800) FLOWERS"),
        ("call 1-888-NEW-CARS now", "1-888-NEW-CARS"),
        ("1-800-CONTACTS.com was quick", "1-800-CONTACTS"),
        ("dial 800-Flowers", "800-Flowers"),
    ],
)
def test_vanity_numbers(text, value):
    assert spans(text) == [("PHONE", value)]


@pytest.mark.parametrize("text", ["the 800-pound gorilla", "800-Calorie Meal deal", "I paid 800 EUR", "800-Flowers"])
def test_vanity_negatives(text):
    # Lower-case words after 800 are prose; a bare "800-Word" needs a 1, brackets, capitals or a phone word.
    assert spans(text) == []


# ---------------------------------------------------------------------- IBAN


@pytest.mark.parametrize(
    "value",
    [
        "GB82 WEST 1234 5698 7654 32",
        "DE89-3704-0044-0532-0130-00",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91-ABNA-0417-1643-00",
    ],
)
def test_spaced_and_dashed_iban(value):
    assert spans(f"IBAN {value} thanks") == [("IBAN", value)]


def test_iban_bad_check_digits_or_mixed_separators():
    assert spans("IBAN DE88-3704-0044-0532-0130-00") == []
    assert spans("IBAN DE89-3704 0044-0532 0130-00") == []


# ------------------------------------------------------------------------ IP


@pytest.mark.parametrize(
    "value",
    [
        "2001:db8::ff00:42:8329",
        "fe80::1ff:fe23:4567:890a",
        "::1",
        "::ffff:192.0.2.128",
        "2001:db8::",
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
    ],
)
def test_ipv6_compressed_forms(value):
    assert spans(f"blocked from {value} again") == [("IP", value)]


def test_ip_after_edit_header_but_not_after_version_word():
    assert spans("Update: 86.246.238.39 is banned") == [("IP", "86.246.238.39")]
    assert spans("Update: ping 56.179.155.88 fails") == [("IP", "56.179.155.88")]
    assert spans("updated firmware to 10.2.0.4") == []


def test_batch_path_agrees_on_new_classes():
    texts = [
        f"paid with my maestro card {MAESTRO12}",
        "Call 1-800-FLOWERS today",
        "Tel. 06458/92441915",
        "IBAN DE89-3704-0044-0532-0130-00",
        "blocked from ::1 again",
        f"my JCB card {JCB15} expired",
    ]
    batch, _ = redact_batch(texts)
    assert batch == [redact(t).text for t in texts]
    assert all("[" in b for b in batch)
