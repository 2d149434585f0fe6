"""Seeded, Faker-based labelled evaluation set for nlp_tasks.pii (issue 17).

    python bench/pii_faker_set.py --seed 1 --n 3000 --out /tmp/pii_faker_dev.json

Writes the Presidio-style JSON that ``bench/pii_eval.py`` reads::

    [{"full_text": ..., "spans": [{"entity_type", "start_position", "end_position"}],
      "kind": "entity" | "negative"}]

Values come from Faker's own providers across locales, so the set is not shaped
by the rules it measures:

* CARD: every ``credit_card_number(card_type=...)`` provider of every locale
  that has one (en_US's visa13/16/19, mastercard, amex, discover, diners,
  jcb15, jcb16, maestro; ru_RU's mir/unionpay/maestro; uk_UA's prostir;
  pt_PT's maestro; zh_CN's unionpay; fa_IR's national bank cards), written
  unbroken, in blocks of four, or in the network's own grouping.
* PHONE: ``phone_number()`` and ``msisdn()`` of a locale per region of the
  issue (US/CA, GB, IE, FR, DE, ES, IT, NL, BE, CH, AT, PL, SE, NO, DK, PT, AU,
  NZ, IN, BR, MX, JP) as Faker writes them (Faker's numbers are often not
  real numbering-plan numbers; they are still labelled PHONE).
* PHONE also: vanity toll-free numbers (``1-800-FLOWERS``) from Faker words.
* EMAIL, SSN (en_US ``ssn()``, dashed, and spaced/bare after an SSN word),
  IP (``ipv4*()``, ``ipv6()``, plus compressed / exploded / IPv4-mapped v6),
  IBAN (``iban()`` of many locales, compact, spaced or dashed in fours).

Context. Most mentions sit next to the words real text uses ("call me on",
"whatsapp", "card", "IBAN", ...). Some have no such word; for PHONE those are
only the international form (``+CC ...``): a national number with no country
code and no phone word ("04 15 39 15 00.") is, by the issue's own rule, not
distinguishable from an id, so it is not labelled in a context-free sentence.
CARD numbers of the broad national/Maestro ranges likewise only appear next
to a card word (same rule) unless printed in four-digit blocks with 16+
digits; the major networks' numbers also appear without one.

Hard negatives ("kind": "negative", no spans) are generated the same way:
order numbers, prices, dates, times, tracking ids, version numbers,
quantities, ISBNs, model/serial numbers, postcodes. Any redaction on them is
a false positive.

Use one seed ("dev", default 1) to look at errors and tune, and a different
seed ("test", e.g. 2) only to report figures.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

from faker import Faker

GOLD = {
    "EMAIL": "EMAIL_ADDRESS",
    "PHONE": "PHONE_NUMBER",
    "CARD": "CREDIT_CARD",
    "SSN": "US_SSN",
    "IP": "IP_ADDRESS",
    "IBAN": "IBAN_CODE",
}

# Region of the issue -> Faker locales that write its numbers.
PHONE_LOCALES = {
    "US": ["en_US"],
    "CA": ["en_CA"],
    "GB": ["en_GB"],
    "IE": ["en_IE"],
    "FR": ["fr_FR"],
    "DE": ["de_DE"],
    "ES": ["es_ES"],
    "IT": ["it_IT"],
    "NL": ["nl_NL"],
    "BE": ["nl_BE", "fr_BE"],
    "CH": ["de_CH", "fr_CH"],
    "AT": ["de_AT"],
    "PL": ["pl_PL"],
    "SE": ["sv_SE"],
    "NO": ["no_NO"],
    "DK": ["da_DK"],
    "PT": ["pt_PT"],
    "AU": ["en_AU"],
    "NZ": ["en_NZ"],
    "IN": ["en_IN", "hi_IN"],
    "BR": ["pt_BR"],
    "MX": ["es_MX"],
    "JP": ["ja_JP"],
}
CARD_LOCALES = ["en_US", "ru_RU", "uk_UA", "pt_PT", "zh_CN", "fa_IR"]
IBAN_LOCALES = [
    "de_DE",
    "fr_FR",
    "en_GB",
    "es_ES",
    "it_IT",
    "nl_NL",
    "nl_BE",
    "pl_PL",
    "pt_PT",
    "de_AT",
    "de_CH",
    "no_NO",
    "da_DK",
    "fi_FI",
    "cs_CZ",
    "en_IE",
    "sk_SK",
    "ro_RO",
    "el_GR",
    "tr_TR",
    "pt_BR",
    "az_AZ",
    "uk_UA",
    "ru_RU",
]
# Card types whose IIN range is broad (Maestro's 50/56-69, national schemes):
# the issue accepts them unbroken only next to a card word.
BROAD_CARD_TYPES = {
    ("en_US", "maestro"),
    ("en_US", "jcb15"),
    ("ru_RU", "maestro"),
    ("uk_UA", "prostir"),
    ("uk_UA", "maestro"),
    ("pt_PT", "maestro"),
}

PREFIX = [
    "",
    "",
    "",
    "Great product overall. ",
    "Delivery was late again. ",
    "Not happy with support. ",
    "Five stars from me! ",
    "Update: ",
    "Hi, ",
    "The blender broke after 2 weeks. ",
    "Re my complaint - ",
    "Ordered twice, ",
    "Honestly? ",
    "So I contacted them. ",
]
SUFFIX = [
    "",
    "",
    "",
    " Thanks.",
    " Thanks!",
    " Will update.",
    " Cheers",
    " (not a bot)",
    ". Very disappointed.",
    " - love it",
    ", kind regards.",
    " lol",
    " ASAP please.",
    ".",
]

CTX = {
    "PHONE": [
        "call me at {}",
        "Call me on {} after 6pm",
        "my phone is {}",
        "phone: {}",
        "Phone {}",
        "Tel. {}",
        "tel: {}",
        "mobile {}",
        "my mobile number is {}",
        "cell: {}",
        "cell {} anytime",
        "text me at {}",
        "Text {} for the code",
        "sms {} please",
        "whatsapp {}",
        "WhatsApp me on {}",
        "you can reach me on {}",
        "reach me at {}",
        "send messages to {}",
        "my registered number is {}",
        "contact number {}",
        "ring me on {}",
        "{} is my mobile",
        "Please call {} asap",
        "the helpline ({}) was useless",
        "fax {}",
        "telephone: {}",
        "call {}",
        "Called {} three times and nobody answered",
        "the courier called from {}",
        "their hotline {} is always busy",
        "phone number {}",
    ],
    "CARD": [
        "my card {} was charged twice",
        "card number: {}",
        "Card no {}",
        "paid with my visa {}",
        "credit card {} expired",
        "debit card {} got blocked",
        "cc: {}",
        "CC# {}",
        "charged my card {} again",
        "they refunded to card {}",
        "my credit card number is {}",
        "used my mastercard {}",
        "paid by card ({})",
        "card {} exp 09/27",
        "the card {} was declined",
        "payment card {}",
    ],
    "SSN": [
        "SSN {}",
        "my social security number is {}",
        "ssn: {}",
        "SS# {}",
        "Social Security {}",
        "they wanted my SSN ({})",
        "social security no. {}",
    ],
    "IP": [
        "from IP {}",
        "my ip address is {}",
        "server {} keeps timing out",
        "blocked from {} again",
        "logged in from {}",
        "ping {} fails",
        "router at {}",
        "IP: {}",
        "the camera at {} drops offline",
        "dns server {}",
        "connect to {} in the app",
    ],
    "IBAN": [
        "IBAN {}",
        "my iban: {}",
        "refund to account {}",
        "bank transfer to {}",
        "send it to {} please",
        "IBAN: {} (Sparkasse)",
        "please wire to {}",
        "account {} for the refund",
    ],
    "EMAIL": [
        "email me at {}",
        "contact {}",
        "write to {}!",
        "my email is {}",
        "<{}>",
        "mail: {}",
        "reach me at {}",
        "send the invoice to {}",
        "e-mail {}",
    ],
}
NO_CTX = {
    "PHONE": ["Anna, {}", "I'm in Lyon ({}).", "- Tom {}", "{} ask for Maria", "details: {}", "{}"],
    "CARD": ["they charged {} twice", "refund to {} please", "{} still not refunded", "charged {} on 3 May", "{}"],
    "SSN": ["they asked for {} on the form", "{} was on the letter", "{}"],
    "IP": ["{} is banned?", "see {} for details", "{} again", "{}"],
    "IBAN": ["{} (Sparkasse)", "to {} please", "{}"],
    "EMAIL": ["{}", "{} - anyone?", "({})", '"{}"'],
}


def _card_providers() -> list[tuple[str, str]]:
    """Every (locale, card_type) Faker defines; "visa"/"jcb" are aliases of visa16/jcb16."""
    import importlib

    out = []
    for loc in CARD_LOCALES:
        types = importlib.import_module(f"faker.providers.credit_card.{loc}").Provider.credit_card_types
        out.extend((loc, t) for t in types if t not in ("visa", "jcb"))
    return out


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._fakers: dict[str, Faker] = {}
        self.seed = seed

    def fk(self, locale: str) -> Faker:
        f = self._fakers.get(locale)
        if f is None:
            f = self._fakers[locale] = Faker(locale)
            f.seed_instance(self.rng.randrange(1 << 30))
        return f

    # ------------------------------------------------------------ values
    def card(self) -> tuple[str, bool]:
        """(formatted number, needs a card word)."""
        rng = self.rng
        providers = _card_providers()
        # fa_IR has ~30 bank types; weigh the locale, not the count of its banks.
        loc = rng.choice(CARD_LOCALES)
        loc, ctype = rng.choice([p for p in providers if p[0] == loc])
        digits = self.fk(loc).credit_card_number(card_type=ctype)
        sep = rng.choice(" -")
        if rng.random() < 0.45:
            out = digits
        elif len(digits) in (14, 15) and rng.random() < 0.7:
            # Amex, 15-digit JCB and Diners are printed 4-6-5 / 4-6-4.
            out = sep.join((digits[:4], digits[4:10], digits[10:]))
        elif len(digits) == 13:
            out = sep.join((digits[:4], digits[4:7], digits[7:10], digits[10:]))
        else:
            out = sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))
        broad = (loc, ctype) in BROAD_CARD_TYPES or loc == "fa_IR"
        # Broad ranges need a card word unless printed in 4-blocks with 16+ digits
        # (the recognizer's rule, from the issue: "next to a card word").
        return out, broad and (out == digits or len(digits) < 16)

    def phone(self) -> tuple[str, str]:
        """(number as Faker writes it, international form or '')."""
        import phonenumbers

        rng = self.rng
        if rng.random() < 0.04:
            # Vanity toll-free number (1-800-FLOWERS): a 7-letter word on a toll-free code.
            f = self.fk("en_US")
            word = next((w for w in (f.word() for _ in range(50)) if len(w) == 7 and w.isalpha()), "flowers")
            area = rng.choice(["800", "833", "844", "855", "866", "877", "888"])
            value = rng.choice(
                [
                    f"1-{area}-{word.upper()}",
                    f"({area}) {word.upper()}",
                    f"1 {area} {word.upper()}",
                    f"1-{area}-{word[:3].upper()}-{word[3:].upper()}",
                    f"1-{area}-{word.capitalize()}",
                ]
            )
            return value, value
        region = rng.choice(list(PHONE_LOCALES))
        f = self.fk(rng.choice(PHONE_LOCALES[region]))
        value = f.msisdn() if rng.random() < 0.2 else f.phone_number()
        intl = ""
        if value.startswith("+"):
            intl = value
        else:
            try:
                num = phonenumbers.parse(value, region)
                if phonenumbers.is_valid_number(num):
                    intl = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            except phonenumbers.NumberParseException:
                pass
        return value, intl

    def email(self) -> str:
        f = self.fk(self.rng.choice(["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL"]))
        return self.rng.choice([f.email, f.free_email, f.company_email, f.ascii_safe_email])()

    def ssn(self) -> tuple[str, bool]:
        v = self.fk("en_US").ssn()
        r = self.rng.random()
        if r < 0.7:
            return v, False
        return (v.replace("-", " ") if r < 0.85 else v.replace("-", "")), True

    def ip(self) -> str:
        f, rng = self.fk("en_US"), self.rng
        r = rng.random()
        if r < 0.45:
            return rng.choice([f.ipv4, f.ipv4_public, f.ipv4_private])()
        if r < 0.65:
            return f.ipv6()
        # Compressed forms: addresses with runs of zero groups, as real ones have.
        groups = [rng.randrange(1 << 16) for _ in range(8)]
        k = rng.randrange(1, 6)
        z = rng.randrange(1, 8 - k + 1)
        for i in range(z, z + k):
            groups[i] = 0
        if rng.random() < 0.3:
            groups[0] = rng.choice([0x2001, 0xFE80, 0x2A00, 0x2600, 0xFD00])
        addr = ipaddress.IPv6Address(int("".join(f"{g:04x}" for g in groups), 16))
        choice = rng.random()
        if choice < 0.15:
            return addr.exploded
        if choice < 0.25:
            return f"::ffff:{f.ipv4()}"
        if choice < 0.3:
            return rng.choice(["::1", "fe80::1", "2001:db8::1"])
        return str(addr)

    def iban(self) -> str:
        v = self.fk(self.rng.choice(IBAN_LOCALES)).iban()
        r = self.rng.random()
        if r < 0.5:
            return v
        sep = " " if r < 0.85 else "-"
        return sep.join(v[i : i + 4] for i in range(0, len(v), 4))

    # ------------------------------------------------------------ records
    def entity_record(self) -> dict:
        rng = self.rng
        kind = rng.choices(list(GOLD), weights=[1, 2.5, 2.5, 1, 1.2, 1.2])[0]
        needs_ctx = False
        if kind == "CARD":
            value, needs_ctx = self.card()
        elif kind == "PHONE":
            value, intl = self.phone()
            if rng.random() < 0.2 and intl:
                # Context-free sentence: only the self-evident international form.
                tpl = rng.choice(NO_CTX["PHONE"])
                return self._record([(tpl, "PHONE", intl)])
            needs_ctx = True
        elif kind == "SSN":
            value, needs_ctx = self.ssn()
        elif kind == "IP":
            value = self.ip()
        elif kind == "IBAN":
            value = self.iban()
        else:
            value = self.email()
        use_ctx = needs_ctx or rng.random() < 0.75
        tpl = rng.choice(CTX[kind] if use_ctx else NO_CTX[kind])
        parts = [(tpl, kind, value)]
        if rng.random() < 0.15:
            # A second, different entity in the same text.
            other = rng.choice(["EMAIL", "IP", "IBAN"])
            v2 = {"EMAIL": self.email, "IP": self.ip, "IBAN": self.iban}[other]()
            parts.append((rng.choice(CTX[other]), other, v2))
        return self._record(parts)

    def _record(self, parts: list[tuple[str, str, str]]) -> dict:
        rng = self.rng
        text = rng.choice(PREFIX)
        spans = []
        for i, (tpl, kind, value) in enumerate(parts):
            if i:
                text += rng.choice([" and ", ". Also ", ", ", "; "])
            before, after = tpl.split("{}")
            if not text:
                before = before[:1].upper() + before[1:]
            text += before
            spans.append(
                {"entity_type": GOLD[kind], "start_position": len(text), "end_position": len(text) + len(value)}
            )
            text += value + after
        text += rng.choice(SUFFIX)
        return {"full_text": text, "spans": spans, "kind": "entity"}

    def negative_record(self) -> dict:
        rng = self.rng
        make: Callable[[], str] = rng.choice(NEGATIVES)
        text = rng.choice(PREFIX) + make(self) + rng.choice(SUFFIX)
        return {"full_text": text, "spans": [], "kind": "negative"}


def _d(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _neg_order(g: Gen) -> str:
    r = g.rng
    num = r.choice(
        [
            f"{_d(r, 3)}-{_d(r, 7)}-{_d(r, 7)}",
            f"#{_d(r, r.randint(4, 9))}",
            _d(r, r.randint(6, 10)),
            f"{_d(r, 2)}-{_d(r, 5)}-{_d(r, 5)}",
            f"W{_d(r, 9)}",
            f"{_d(r, 4)}-{_d(r, 4)}",
        ]
    )
    return r.choice(
        [
            "Order {} arrived broken",
            "order number {} never shipped",
            "My order {} was cancelled",
            "order no. {} is missing a part",
            "Ref {} on the invoice",
            "invoice {} is wrong",
            "ticket {} still open",
            "case number {} closed without reply",
        ]
    ).format(num)


def _neg_price(g: Gen) -> str:
    r = g.rng
    p = r.choice(
        [
            f"${r.randint(1, 2999)}.{_d(r, 2)}",
            f"€{r.randint(1, 999)},{_d(r, 2)}",
            f"{r.randint(1, 9)},{_d(r, 3)}.99 USD",
            f"£{r.randint(1, 99)}",
            f"{r.randint(100, 9999)} yen",
            f"R$ {r.randint(10, 999)},{_d(r, 2)}",
            f"{r.randint(1, 9)} {_d(r, 3)} {_d(r, 3)} Ft",
            f"{r.randint(1000, 99999)} INR",
        ]
    )
    return r.choice(
        ["Paid {} for this", "it costs {} now", "worth {} easily", "price went from {} to {}", "{} well spent"]
    ).format(p, p)


def _neg_date(g: Gen) -> str:
    r, f = g.rng, g.fk("en_US")
    d = f.date_between("-5y", "+1y")
    s = r.choice(
        [
            d.strftime("%Y-%m-%d"),
            d.strftime("%d/%m/%Y"),
            d.strftime("%m/%d/%Y"),
            d.strftime("%d.%m.%Y"),
            d.strftime("%B %d, %Y"),
            d.strftime("%d %m %Y"),
            d.strftime("%Y%m%d"),
            d.strftime("%d-%m-%Y"),
        ]
    )
    return r.choice(
        ["bought on {}", "arrived {}", "warranty ends {}", "since {} no reply", "delivered {} at last"]
    ).format(s)


def _neg_time(g: Gen) -> str:
    r = g.rng
    h, m, s = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
    t = r.choice(
        [
            f"{h:02d}:{m:02d}",
            f"{h}:{m:02d}:{s:02d}",
            f"{h}h{m:02d}",
            f"{h:02d}.{m:02d}",
            f"{h}:{m:02d} - {r.randint(0, 23)}:{m:02d}",
            f"{h:02d}:{m:02d}:{s:02d}.{_d(r, 3)}",
        ]
    )
    return r.choice(
        ["came at {}", "open {} daily", "timer set to {}", "the alarm at {} did not ring", "delivery window {}"]
    ).format(t)


def _neg_tracking(g: Gen) -> str:
    r = g.rng
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    t = r.choice(
        [
            "1Z" + "".join(r.choice(letters) for _ in range(16)),  # UPS
            "94" + _d(r, 20),  # USPS 22 digits
            " ".join(["9400", _d(r, 4), _d(r, 4), _d(r, 4), _d(r, 4), _d(r, 2)]),  # USPS as printed
            _d(r, 10),  # DHL Express
            "JD" + _d(r, 18),  # DHL eCommerce
            "".join(r.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
            + _d(r, 9)
            + r.choice(["GB", "DE", "CN", "US"]),  # UPU S10
            "TBA" + _d(r, 12),  # Amazon Logistics
        ]
    )
    return r.choice(
        [
            "tracking {} shows nothing",
            "Tracking number: {}",
            "parcel {} stuck in customs",
            "tracking id {} not found",
            "shipment {} returned",
        ]
    ).format(t)


def _neg_version(g: Gen) -> str:
    r = g.rng
    v = r.choice(
        [
            f"{r.randint(1, 20)}.{r.randint(0, 20)}.{r.randint(0, 99)}",
            f"v{r.randint(1, 9)}.{r.randint(0, 9)}",
            f"{r.randint(1, 20)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9999)}",
            f"build {r.randint(10000, 99999)}",
            f"{r.randint(1, 30)}.{r.randint(0, 9)}.{r.randint(0, 9)}-beta{r.randint(1, 9)}",
        ]
    )
    return r.choice(
        [
            "after firmware {} it broke",
            "app version {} crashes",
            "updated to iOS {}",
            "version {} fixed it",
            "on release {}",
        ]
    ).format(v)


def _neg_quantity(g: Gen) -> str:
    r = g.rng
    q = r.choice(
        [
            f"{r.randint(2, 12)} x {r.randint(100, 999)} ml",
            f"pack of {r.randint(2, 144)}",
            f"{r.randint(10, 99)} x {r.randint(10, 99)} x {r.randint(10, 99)} cm",
            f"{r.randint(1, 5000)} mAh",
            f"{r.randint(1, 99)}.{r.randint(0, 9)} kg",
            f"{r.randint(1000, 999999):,} steps",
            f"{r.randint(100, 99999)} rpm",
            f"{r.randint(1, 4)}/{r.randint(5, 10)} stars",
            f"{r.randint(1, 99)}% off",
            f"{r.randint(1, 60)} x {r.randint(1, 60)} inch",
        ]
    )
    return r.choice(["it is {}", "came as {}", "rated {}", "says {} on the box", "{} exactly"]).format(q)


def _neg_ids(g: Gen) -> str:
    r, f = g.rng, g.fk("en_US")
    v = r.choice(
        [
            f.isbn13(),
            f.isbn10(),
            f"SM-G{r.randint(900, 999)}{r.choice('BUFN')}",
            f"SN {_d(r, 12)}",
            f.postcode(),
            g.fk("en_GB").postcode(),
            g.fk("de_DE").postcode(),
            f"model {r.randint(1000, 99999)}",
            f"EAN {f.ean13()}",
            f"UPC {f.ean(length=13)[1:]}",
            f"asin B0{_d(r, 8)}",
            f"room {r.randint(100, 999)}",
            f"lot {_d(r, 6)}-{_d(r, 2)}",
            f"serial {_d(r, 4)}-{_d(r, 4)}-{_d(r, 4)}",
        ]
    )
    return r.choice(["{} on the label", "the {} one", "see {}", "ISBN {}", "ships to {}", "part {}"]).format(v)


def _neg_misc(g: Gen) -> str:
    r, f = g.rng, g.fk("en_US")
    v = r.choice(
        [
            f"customer id {_d(r, 4)} {_d(r, 4)} {_d(r, 2)}",
            f"reservation {f.bothify('?#?#?#').upper()}",
            f"flight LH {r.randint(100, 9999)}",
            f"coordinates {f.latitude()}, {f.longitude()}",
            f"resolution {r.choice(['1920x1080', '3840 x 2160', '2560x1440'])}",
            f"rated IP{r.randint(54, 68)}",
            f"{r.randint(1, 9)} {_d(r, 3)} {_d(r, 3)} views",
            f"{r.randint(9, 11)}:00-{r.randint(16, 19)}:30 weekdays",
            f"from {f.date_between('-2y').strftime('%d %B %Y')} to {f.date_between('-1y').strftime('%d %B %Y')}",
            f"{r.randint(1, 20)} {r.choice(['years', 'months', 'weeks'])}, {r.randint(1, 30)} days",
            f"voucher {f.bothify('????-####-????').upper()}",
            f"s/n: {f.bothify('??#?').upper()} {_d(r, 4)} {_d(r, 4)}",
            f"ref. {r.randint(2019, 2025)}-{_d(r, 4)}-{_d(r, 4)}",
            f"{r.randint(1, 999)},{_d(r, 3)},{_d(r, 3)} downloads",
            f"score {r.randint(1, 99)}.{_d(r, 2)} / {r.randint(100, 999)}",
        ]
    )
    return r.choice(["{}", "it says {}", "{} on the receipt", "note: {}"]).format(v)


NEGATIVES: list[Callable[[Gen], str]] = [
    _neg_order,
    _neg_price,
    _neg_date,
    _neg_time,
    _neg_tracking,
    _neg_version,
    _neg_quantity,
    _neg_ids,
    _neg_misc,
]


def generate(seed: int, n: int, negative_share: float = 0.3) -> list[dict]:
    """``n`` records: about ``1 - negative_share`` with entities, the rest hard negatives."""
    g = Gen(seed)
    # Pin Faker's own module-level RNG too; instance seeds above cover the providers.
    Faker.seed(seed)
    return [g.negative_record() if g.rng.random() < negative_share else g.entity_record() for _ in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1, help="1 = dev (tune on it); report on another seed")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    recs = generate(args.seed, args.n)
    args.out.write_text(json.dumps(recs, ensure_ascii=False, indent=0), encoding="utf-8")
    print(f"wrote {len(recs)} records ({sum(r['kind'] == 'negative' for r in recs)} hard negatives) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
