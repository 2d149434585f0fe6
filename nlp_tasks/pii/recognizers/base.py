"""What every recognizer shares: the ``Candidate`` it yields, the ``Recognizer`` base
class, the entity types downstream knows, and the building blocks of RE2 prefilters."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "ENTITY_TYPES",
    "RAW_COLON",
    "RAW_DIGIT",
    "RAW_DOT",
    "RAW_HEX",
    "RAW_LETTER",
    "RAW_PAREN",
    "RAW_SPACE_DASH",
    "TOKEN_END",
    "Candidate",
    "Recognizer",
    "token_start",
]

# The types a recognizer may report, in placeholder-rank order. The redact stage writes
# one ``pii_<type>`` count column per type and the metrics one counter per type, so a new
# type is added here as well as in its recognizer; the registry refuses any other.
ENTITY_TYPES: tuple[str, ...] = ("EMAIL", "PHONE", "CARD", "SSN", "IP", "IBAN")


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


class Recognizer(ABC):
    """Finds one entity type in the *normalised* copy of a text (see ``normalize``).

    Every regex of a recognizer is written so that the engine has a bounded amount of work
    per start position (bounded quantifiers, no nested unbounded repeats, and a look-behind
    that only lets a match start at the beginning of a token), which keeps a scan linear in
    the text length. Checksums and number plans come from libraries (``phonenumbers``,
    ``python-stdnum``, ``ipaddress``), never from home-made arithmetic.
    """

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
