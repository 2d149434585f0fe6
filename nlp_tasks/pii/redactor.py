"""Turning detected entities into redacted text."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence

from .recognizers import Recognizer
from .registry import Entity, RecognizerRegistry

__all__ = ["RedactionResult", "Redactor", "redact", "redact_batch"]

log = logging.getLogger(__name__)


class RedactionResult:
    """Redacted text plus where the entities were in the original.

    The original text is not kept, so neither the object nor its repr can
    leak it.
    """

    __slots__ = ("text", "entities")

    def __init__(self, text: str, entities: list[Entity]) -> None:
        self.text = text
        self.entities = entities

    def counts(self) -> dict[str, int]:
        # Plain dict loop: Counter's construction overhead showed up in
        # profiles of batches of short texts.
        out: dict[str, int] = {}
        for e in self.entities:
            out[e.type] = out.get(e.type, 0) + 1
        return out

    def __repr__(self) -> str:
        # Counts only: the redacted text is safe but can be megabytes long.
        return f"RedactionResult(chars={len(self.text)}, counts={self.counts()})"


class Redactor:
    def __init__(self, registry: RecognizerRegistry | None = None) -> None:
        self.registry = registry or RecognizerRegistry()

    def redact(self, text: str, recognizers: Sequence[Recognizer] | None = None) -> RedactionResult:
        """Redact ``text``; ``recognizers`` is the subset worth running (default: all)."""
        if not isinstance(text, str):
            # Type name only: the value itself might be PII.
            raise TypeError(f"redact() expects str, got {type(text).__name__}")
        entities = self.registry.analyze(text, recognizers)
        if not entities:
            return RedactionResult(text, entities)
        parts: list[str] = []
        pos = 0
        for e in entities:
            parts.append(text[pos : e.start])
            parts.append(self.registry.placeholder(e.type))
            pos = e.end
        parts.append(text[pos:])
        return RedactionResult("".join(parts), entities)

    def redact_batch(self, texts: Iterable[str | None]) -> tuple[list[str | None], list[dict[str, int]]]:
        out: list[str | None] = []
        counts: list[dict[str, int]] = []
        total: Counter[str] = Counter()
        texts = texts if isinstance(texts, list) else list(texts)
        subsets = self.registry.prefilter(texts)
        for text, subset in zip(texts, subsets, strict=True):
            # Parquet/pandas nulls arrive as None or as a float NaN.
            if text is None or (isinstance(text, float) and text != text):
                out.append(None)
                counts.append({})
                continue
            if not subset and isinstance(text, str):
                # Nothing any recognizer could match: the common case, kept free of calls.
                out.append(text)
                counts.append({})
                continue
            result = self.redact(text, subset)
            out.append(result.text)
            c = result.counts() if result.entities else {}
            counts.append(c)
            if c:
                total.update(c)
        log.debug("redacted %d texts, entity counts %s", len(out), dict(total))
        return out, counts


_DEFAULT: Redactor | None = None


def _default() -> Redactor:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Redactor()
    return _DEFAULT


def redact(text: str) -> RedactionResult:
    """Redact PII in ``text`` with the default recognizers."""
    return _default().redact(text)


def redact_batch(texts: Iterable[str | None]) -> tuple[list[str | None], list[dict[str, int]]]:
    """Redact many texts. Returns redacted texts (None stays None) and, per
    text, a count of entities by type (types with zero hits are omitted)."""
    return _default().redact_batch(texts)
