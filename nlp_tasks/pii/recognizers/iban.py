"""IBAN: ISO 13616 account numbers, compact or in blocks of four."""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum import iban as std_iban

from .base import RAW_DIGIT, RAW_LETTER, Candidate, Recognizer, token_start

__all__ = ["IbanRecognizer"]


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
