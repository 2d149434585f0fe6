"""The batch path's RE2 prefilters never hide an entity the single-text path finds.

``redact_batch`` runs each recognizer only on texts its prefilter matches; ``redact`` runs
every recognizer. Over valid values of every type, written with the look-alike characters
normalize() maps (full-width digits and letters, NBSP, typographic dashes, odd dots and
colons, full-width @), plus the hard negatives, both paths must agree exactly.
"""

from __future__ import annotations

import random

import pytest

from nlp_tasks.pii import redact, redact_batch
from nlp_tasks.pii.redactor import _default
from tests.helpers import HARD_NEGATIVES, IDEMPOTENCE_TEXTS

VALUES = {
    "EMAIL": ["jane.doe@example.org", "a.b+tag@sub.example.co.uk", "x_y-z%1@mail-host.io"],
    "PHONE": [
        "415-555-2671",
        "(415) 555-2671",
        "+1 (415) 555-2671 x204",
        "+44 20 7946 0958",
        "+442079460958",
        "+33 6 12 34 56 78",
        "030-12345678",
        "07700 900123",
        "02.27.96.63.08",
        # Issue 17: vanity, slashed national, bare msisdn after a phone word.
        "1-800-FLOWERS",
        "(800) FLOWERS",
        "06458/92441915",
        "5511987654321",
    ],
    "CARD": [
        "4242424242424242",
        "4222222222222",
        "371449635398431",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "3714 496353 98431",
        # Issue 17: JCB, Maestro 12 digits, JCB legacy 15, UnionPay 19 grouped, Mir.
        "3530111333300000",
        "675912345674",
        "6759 1234 5674",
        "180012345678905",
        "6212 3456 7890 1234 569",
        "2200123456789019",
    ],
    "SSN": ["536-90-4399", "SSN: 536 90 4399", "social security number is 536904399", "SSN 536.90.4399"],
    "IP": [
        "192.168.0.1",
        "8.8.8.8",
        "2001:db8::1",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "::ffff:10.0.0.1",
        "fe80::1",
        "::1",
        "2001:db8::ff00:42:8329",
    ],
    "IBAN": [
        "GB82WEST12345698765432",
        "GB82 WEST 1234 5698 7654 32",
        "gb82west12345698765432",
        "NL91ABNA0417164300",
        "DE89-3704-0044-0532-0130-00",
        "FR14 2004 1010 0505 0001 3M02 606",
    ],
}
PHONE_WORDS = {
    "PHONE": "call me on {}",
    "CARD": "my card {} was charged",
    "IP": "blocked from {} again",
    "IBAN": "IBAN {} thanks",
}

FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789@.:()+-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
LOOKALIKES = {
    " ": ["\u00a0", "\u202f", "\u2009", "\u3000"],
    "-": ["\u2013", "\u2011", "\u2212", "\u2014"],
    ".": ["\u3002", "\uff61", "\u2024"],
}


def variants(value: str, rng: random.Random) -> list[str]:
    out = [value, "".join(FULLWIDTH.get(c, c) for c in value)]
    for _ in range(4):
        out.append(
            "".join(
                rng.choice(LOOKALIKES[c])
                if c in LOOKALIKES and rng.random() < 0.7
                else FULLWIDTH[c]
                if c in FULLWIDTH and rng.random() < 0.3
                else c
                for c in value
            )
        )
    return out


def corpus() -> list[str]:
    rng = random.Random(11)
    texts = []
    for kind, values in VALUES.items():
        for v in values:
            for variant in variants(v, rng):
                texts.append(PHONE_WORDS.get(kind, "note: {} ok").format(variant))
    # Look-behinds in RE2: each value at the very start, after brackets and quotes, and glued
    # to characters that do or do not block a match (ASCII, full-width and other scripts).
    for values in VALUES.values():
        for v in values:
            for frame in (
                "{}",
                "({})",
                '"{}"',
                "#{}",
                "${}",
                "x{}",
                "=+{}",
                "/{}",
                "-{}",
                ".{}",
                ",{}",
                "\uff03{}",
                "\u00e9{}",
                "\u0661{}",
                "\n{}",
                "\u00a0{}",
                "Order #{}, tracking 1Z{}",
            ):
                texts.append(frame.format(v, v))
    return texts + list(HARD_NEGATIVES) + list(IDEMPOTENCE_TEXTS) + ["", "no digits at all", None]


def test_batch_with_prefilters_equals_every_recognizer_on_every_text():
    texts = corpus()
    batch, counts = redact_batch(texts)
    for text, got, c in zip(texts, batch, counts, strict=True):
        if text is None:
            assert got is None and c == {}
            continue
        want = redact(text)
        assert got == want.text, f"prefilter hid an entity in case #{texts.index(text)}"
        assert c == want.counts()
    # Not vacuous: every type was found, look-alike variants included.
    found = {t for c in counts for t in c}
    assert found == set(VALUES)
    assert sum(sum(c.values()) for c in counts) >= len(VALUES) * 10


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_each_prefilter_selects_its_recognizer_on_lookalikes(kind):
    registry = _default().registry
    rng = random.Random(5)
    texts = [PHONE_WORDS.get(kind, "note: {} ok").format(v) for value in VALUES[kind] for v in variants(value, rng)]
    subsets = registry.prefilter(texts)
    assert len(subsets) == len(texts)
    for i, subset in enumerate(subsets):
        assert kind in {r.entity_type for r in subset}, f"{kind} prefilter missed variant #{i}"


def test_prefilter_skips_plain_reviews():
    registry = _default().registry
    subsets = registry.prefilter(["Great blender, works fine.", "Arrived late but ok", "5 stars!", None])
    assert all(s == () for s in subsets)


def test_prefilter_skips_numbers_glued_to_words_and_symbols():
    # Order numbers, tracking codes and prices: the recognizers' look-behinds reject them,
    # so the batch never calls Python for them.
    registry = _default().registry
    texts = ["Order #4829131 shipped", "tracking 1Z999AA14829131", "It cost $1234567.50", "ref=4155552671"]
    assert all(s == () for s in registry.prefilter(texts)), [
        tuple(r.entity_type for r in s) for s in registry.prefilter(texts)
    ]
