"""SSN: US Social Security Numbers."""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum.us import ssn as std_ssn

from ..context import text_before
from .base import RAW_DIGIT, RAW_DOT, RAW_SPACE_DASH, TOKEN_END, Candidate, Recognizer, token_start

__all__ = ["UsSsnRecognizer"]

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
