"""PII detection and redaction for review text.

Public API (the pipeline's redact stage uses ``redact_batch`` and ``ENTITY_TYPES``; the
command line, ``python -m nlp_tasks.pii``, uses ``redact``)::

    from nlp_tasks.pii import redact, redact_batch, ENTITY_TYPES

Offsets in ``RedactionResult.entities`` are Python string indices (code
points) into the original text.
"""

from .recognizers import ENTITY_TYPES
from .redactor import RedactionResult, Redactor, redact, redact_batch
from .registry import Entity, RecognizerRegistry

__all__ = [
    "ENTITY_TYPES",
    "Entity",
    "RecognizerRegistry",
    "RedactionResult",
    "Redactor",
    "redact",
    "redact_batch",
]
