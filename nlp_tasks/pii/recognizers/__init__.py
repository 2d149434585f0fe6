"""The recognizers, one module per entity type (Presidio's ``predefined_recognizers/``
layout): ``email``, ``phone`` and ``vanity_phone`` (PHONE has two), ``credit_card``,
``ssn``, ``ip_address``, ``iban``. What they share is in ``base`` (the ``Recognizer``
class, ``Candidate``, ``ENTITY_TYPES``, prefilter building blocks) and ``phone_words``
(the words that make a number a phone number, also consulted by the card recognizer).

Adding one: a module with a ``Recognizer`` subclass, listed in ``default_recognizers``
below; the registry checks it (see ``RecognizerRegistry.add``).
"""

from __future__ import annotations

from .base import ENTITY_TYPES, Candidate, Recognizer
from .credit_card import CreditCardRecognizer
from .email import EmailRecognizer
from .iban import IbanRecognizer
from .ip_address import IpRecognizer
from .phone import PHONE_REGIONS, PhoneRecognizer
from .ssn import UsSsnRecognizer
from .vanity_phone import VanityPhoneRecognizer

__all__ = [
    "ENTITY_TYPES",
    "PHONE_REGIONS",
    "Candidate",
    "CreditCardRecognizer",
    "EmailRecognizer",
    "IbanRecognizer",
    "IpRecognizer",
    "PhoneRecognizer",
    "Recognizer",
    "UsSsnRecognizer",
    "VanityPhoneRecognizer",
    "default_recognizers",
]


def default_recognizers() -> list[Recognizer]:
    """A fresh instance of each recognizer, in registry order (which ranks placeholders:
    it is the order of ``ENTITY_TYPES``, the vanity-number recognizer last)."""
    return [
        EmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        UsSsnRecognizer(),
        IpRecognizer(),
        IbanRecognizer(),
        VanityPhoneRecognizer(),
    ]
