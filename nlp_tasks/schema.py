"""Arrow schemas of the data contracts: ingested rows, quarantine rows, report rows."""

from __future__ import annotations

import pyarrow as pa

# Ingest keeps every field as the string it was given: typing and range checks belong to
# validation, which can then say exactly which value was wrong instead of losing it.
INGESTED = pa.schema(
    [
        ("review_id", pa.string()),
        ("text", pa.string()),
        ("title", pa.string()),
        ("product_id", pa.string()),
        ("rating", pa.string()),
        ("created_at", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),  # 1-based line (JSONL/CSV data line), row index+1 (Parquet), 0 for a PDF
        ("source_kind", pa.string()),  # review | pdf
    ]
)

CANONICAL_FIELDS = ("review_id", "text", "title", "product_id", "rating", "created_at")
REQUIRED_FIELDS = ("review_id", "text")

# A quarantined record never carries its raw text: it may hold PII that has not been redacted.
QUARANTINE = pa.schema(
    [
        ("review_id", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("stage", pa.string()),  # ingest | validate
        ("reason", pa.string()),
        ("text_redacted", pa.string()),
        ("run_id", pa.string()),
    ]
)

VALIDATED = pa.schema(
    [
        ("review_id", pa.string()),
        ("text", pa.string()),
        ("title", pa.string()),
        ("product_id", pa.string()),
        ("rating", pa.int8()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("source_kind", pa.string()),
    ]
)

SENTIMENT_REPORT = pa.schema(
    [
        ("review_id", pa.string()),
        ("product_id", pa.string()),
        ("rating", pa.int8()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("title_redacted", pa.string()),
        ("text_redacted", pa.string()),
        ("label", pa.string()),
        ("score", pa.float32()),  # P(positive)
        ("p_negative", pa.float32()),
        ("p_neutral", pa.float32()),  # null for a binary model (its neutral comes from the band)
        ("pii_entities", pa.int32()),
        ("source_kind", pa.string()),
        ("source_file", pa.string()),
        ("model_version", pa.string()),
        ("provider", pa.string()),
        ("run_id", pa.string()),
    ]
)


def quarantine_rows(rows: list[dict], run_id: str = "") -> pa.Table:
    cols = {name: [r.get(name) for r in rows] for name in QUARANTINE.names}
    cols["run_id"] = [run_id] * len(rows)
    return pa.table(cols, schema=QUARANTINE)
