"""PII detection and redaction for review text.

Public API (used by the DAGs)::

    from nlp_tasks.pii import redact, redact_batch, ENTITY_TYPES

Offsets in ``RedactionResult.entities`` are Python string indices (code
points) into the original text.
"""

from .recognizers import default_recognizers
from .redactor import RedactionResult, Redactor, redact, redact_batch
from .registry import Entity, RecognizerRegistry

# Registry order, each type once (PHONE has two recognizers: numbers and vanity numbers).
ENTITY_TYPES: tuple[str, ...] = tuple(dict.fromkeys(r.entity_type for r in default_recognizers()))

__all__ = [
    "ENTITY_TYPES",
    "Entity",
    "RecognizerRegistry",
    "RedactionResult",
    "Redactor",
    "redact",
    "redact_batch",
]
