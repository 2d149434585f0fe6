"""The words that make a number next to them a phone number, or something else.

Shared by the phone recognizers and by the card recognizer, which leaves a bare
Luhn-valid run that a phone word describes to the phone recognizer.
"""

from __future__ import annotations

import re

__all__ = ["NOT_PHONE_CONTEXT", "PHONE_CONTEXT", "PHONE_PHRASE", "WEAK_PHONE_CONTEXT", "nearest_is_negative"]

# Words that, next to a number, make it a phone number.
PHONE_CONTEXT = frozenset(
    """phone phones ph tel tele telephone telefon call calls called calling
    ring cell cellphone mobile mob fax office landline contact reach dial
    text sms whatsapp hotline helpline voicemail answer answering number
    message messages msg viber telegram imessage
    telefono telefone telefoon telefonnummer rufnummer natel movil celular cellulare mobil mobiel tlf""".split()
)
# Phrases that make even a weak word ("reach", "text", "number") a phone
# word: "reach me on", "text me at", "send messages to", "registered number".
PHONE_PHRASE = re.compile(
    r"(?:reach|text|ring|message|msg|call|phone|contact)\s+(?:me|us)\b"
    r"|messages?\s+to\s*$"
    # The verb right before the number: "Text 0790756277 for the code".
    r"|(?:^|[^a-z])(?:text|sms|ring|whatsapp)\s*:?\s*$"
    r"|(?:registered|contact|mobile|phone|cell|telephone|whatsapp|callback|call-back)\s+(?:number|no\.?|#)"
)
# Too common in other senses ("the number 1234567", "text me 12 times") to
# vouch on their own for an unbroken run of digits.
WEAK_PHONE_CONTEXT = frozenset("number text answer answering office contact reach ring".split())
# Words that, just before a number, make it something else. The keyword
# nearest the number decides, weak phone words aside: "order number
# 12 345 678" is an order, "card ..., call 415 555 2671" is a phone.
NOT_PHONE_CONTEXT = frozenset(
    """order orders invoice inv tracking track shipment parcel isbn sku upc
    ean asin imei model serial sn ref reference zip postcode postal version
    ver build firmware release item part po ticket case confirmation booking
    receipt transaction txn id account acct iban ssn social security card visa
    mastercard amex price total cost usd eur date dob born pin code batch
    lot page pages chapter room license licence dl passport driver tax vat
    policy member membership customer routing bank sort ip""".split()
)


def nearest_is_negative(before: list[str]) -> bool:
    """Whether the keyword nearest a number (the last of ``before``) says it is no phone.

    In "card ..., call 415-555-2671" the "call" wins over the earlier "card"; weak words
    ("number") defer to what precedes them ("order number")."""
    for w in reversed(before):
        if w in PHONE_CONTEXT and w not in WEAK_PHONE_CONTEXT:
            return False
        if w in NOT_PHONE_CONTEXT:
            return True
    return False
