"""EMAIL: RFC 5321 dot-atom addresses."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .base import Candidate, Recognizer

__all__ = ["EmailRecognizer"]


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
