"""Recognizer registry and deterministic overlap resolution."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .normalize import normalize
from .recognizers import ENTITY_TYPES, Candidate, Recognizer, default_recognizers

__all__ = ["Entity", "RecognizerRegistry", "resolve_overlaps"]

# Every recognizer needs at least one of these characters. One C-level search
# lets the (common) review without any of them skip all recognizers.
_SIGNAL = re.compile(r"[0-9@:]")


@dataclass(frozen=True, slots=True)
class Entity:
    """A detected span of the ORIGINAL text. Deliberately carries no value,
    so logging or printing an entity can never leak PII."""

    type: str
    start: int
    end: int

    def to_dict(self) -> dict[str, int | str]:
        return {"type": self.type, "start": self.start, "end": self.end}


def resolve_overlaps(
    candidates: Iterable[Candidate],
    type_rank: dict[str, int],
    confirm: Callable[[Candidate], bool] | None = None,
) -> list[Entity]:
    """Pick non-overlapping winners: validated first, then longest, then earliest.

    Candidates are split into clusters of mutually overlapping spans, so the
    (quadratic-ish) greedy choice only ever runs on a handful of spans and a
    text with thousands of entities stays O(n log n). ``confirm`` resolves
    deferred validations (``validated is None``); it is called only inside
    contested clusters because elsewhere the answer cannot change the result.
    """
    ordered = sorted(candidates, key=lambda c: c.start)
    out: list[Entity] = []
    i, n = 0, len(ordered)
    while i < n:
        j, reach = i + 1, ordered[i].end
        while j < n and ordered[j].start < reach:
            reach = max(reach, ordered[j].end)
            j += 1
        if j == i + 1:
            c = ordered[i]
            out.append(Entity(c.type, c.start, c.end))
        else:
            cluster = ordered[i:j]
            if confirm is not None:
                cluster = [
                    c if c.validated is not None else Candidate(c.type, c.start, c.end, confirm(c)) for c in cluster
                ]
            out.extend(_pick(cluster, type_rank))
        i = j
    return out


def _pick(cluster: list[Candidate], type_rank: dict[str, int]) -> list[Entity]:
    # The final tie-break on registry order makes the result independent of
    # the order recognizers happened to emit candidates in.
    ranked = sorted(
        cluster,
        key=lambda c: (not c.validated, c.start - c.end, c.start, type_rank.get(c.type, len(type_rank))),
    )
    starts: list[int] = []
    ends: list[int] = []
    chosen: list[Entity] = []
    for c in ranked:
        k = bisect_right(starts, c.start)
        # Accepted spans are disjoint and sorted, so only the neighbours on
        # each side can collide with the new one.
        if k > 0 and ends[k - 1] > c.start:
            continue
        if k < len(starts) and starts[k] < c.end:
            continue
        starts.insert(k, c.start)
        ends.insert(k, c.end)
        chosen.insert(k, Entity(c.type, c.start, c.end))
    return chosen


# The batch prefilter keeps one bit per recognizer in an int64 per text.
MAX_RECOGNIZERS = 63


class RecognizerRegistry:
    """The recognizers, their placeholders, and the overlap rules between them."""

    def __init__(self, recognizers: Iterable[Recognizer] | None = None) -> None:
        self._recognizers: list[Recognizer] = []
        self._placeholders: dict[str, str] = {}
        self._by_type: dict[str, Recognizer] = {}
        self._rank: dict[str, int] = {}
        for r in default_recognizers() if recognizers is None else recognizers:
            self.add(r)

    def add(self, recognizer: Recognizer) -> None:
        """Register ``recognizer`` after checking it; nothing is registered when a check fails.

        Raises TypeError for anything that is not a ``Recognizer`` instance (a class
        included), and ValueError for an entity type outside ``ENTITY_TYPES`` (the redact
        stage has no count column for it), a placeholder that is not ``[<type>]``, a
        prefilter that is not a non-empty string or None, a second instance of a class
        already registered, or more recognizers than the batch prefilter can track.
        Messages name classes and types only, never text.
        """
        if isinstance(recognizer, type):
            raise TypeError(f"register an instance of {recognizer.__name__}, not the class")
        if not isinstance(recognizer, Recognizer):
            raise TypeError(f"expected a Recognizer, got {type(recognizer).__name__}")
        name = type(recognizer).__name__
        entity_type = getattr(recognizer, "entity_type", None)
        if entity_type not in ENTITY_TYPES:
            raise ValueError(f"{name}: unknown entity type {entity_type!r}; known: {', '.join(ENTITY_TYPES)}")
        placeholder = getattr(recognizer, "placeholder", None)
        if placeholder != f"[{entity_type}]":
            raise ValueError(f"{name}: placeholder must be '[{entity_type}]', got {placeholder!r}")
        prefilter = recognizer.prefilter
        if prefilter is not None and not (isinstance(prefilter, str) and prefilter):
            raise ValueError(f"{name}: prefilter must be a non-empty RE2 pattern or None")
        if any(type(r) is type(recognizer) for r in self._recognizers):
            raise ValueError(f"{name} is already registered")
        if len(self._recognizers) >= MAX_RECOGNIZERS:
            raise ValueError(f"at most {MAX_RECOGNIZERS} recognizers fit in the batch prefilter")
        self._recognizers.append(recognizer)
        # The first recognizer of a type confirms its deferred candidates.
        self._by_type.setdefault(entity_type, recognizer)
        self._placeholders.setdefault(entity_type, placeholder)
        self._rank = {t: i for i, t in enumerate(self._placeholders)}

    @property
    def entity_types(self) -> tuple[str, ...]:
        return tuple(self._placeholders)

    def placeholder(self, entity_type: str) -> str:
        return self._placeholders[entity_type]

    def analyze(self, text: str, recognizers: Sequence[Recognizer] | None = None) -> list[Entity]:
        """Entities of ``text``, sorted by start, non-overlapping.

        ``recognizers``: the subset worth running (from :meth:`prefilter`); default all."""
        if recognizers is not None and not recognizers:
            return []
        norm = normalize(text)
        if _SIGNAL.search(norm) is None:
            return []
        candidates = [
            c
            for r in (self._recognizers if recognizers is None else recognizers)
            if r.applies(norm)
            for c in r.find(norm)
        ]
        if not candidates:
            return []
        return resolve_overlaps(candidates, self._rank, lambda c: self._by_type[c.type].confirm(norm, c))

    def prefilter(self, texts: Sequence[str | None]) -> list[tuple[Recognizer, ...]]:
        """Per text, the recognizers whose prefilter matches it (see Recognizer.prefilter).

        One RE2 pass per recognizer over the whole batch in C++: most texts of a review
        batch then run one recognizer or none instead of all of them in Python.
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array([t if isinstance(t, str) else None for t in texts], pa.large_string())
        bits = np.zeros(len(texts), dtype=np.int64)
        for k, r in enumerate(self._recognizers):
            if r.prefilter is None:
                bits |= 1 << k
            else:
                hit = pc.match_substring_regex(arr, r.prefilter).fill_null(False)
                bits |= hit.to_numpy(zero_copy_only=False).astype(np.int64) << k
        subsets: dict[int, tuple[Recognizer, ...]] = {}
        out = []
        for b in bits.tolist():
            sub = subsets.get(b)
            if sub is None:
                sub = subsets[b] = tuple(r for k, r in enumerate(self._recognizers) if b >> k & 1)
            out.append(sub)
        return out
