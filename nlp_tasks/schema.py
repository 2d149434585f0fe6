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


# -- report tables ---------------------------------------------------------------------------
LABELS = ("negative", "neutral", "positive")
# A label change between two models, champion -> challenger (model_comparison's flips_* columns).
FLIPS = [(a, b) for a in LABELS for b in LABELS if a != b]

# One row for the day (scope "overall") and one per product: reports/summary/dt=D/.
SUMMARY = pa.schema(
    [
        ("scope", pa.string()),
        ("product_id", pa.string()),
        ("rows_in", pa.int64()),
        ("rows_reported", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("negative_share", pa.float64()),
        ("neutral_share", pa.float64()),
        ("positive_share", pa.float64()),
        ("mean_score", pa.float64()),
        ("rating_agreement", pa.float64()),
        ("pii_entities", pa.int64()),
        ("drift_verdict", pa.string()),
        ("run_id", pa.string()),
        ("rows_rated", pa.int64()),  # reported rows with a star rating: the base of rating_agreement
        # 1-2 vs 4-5 stars against the label's sign (neutral labels count as wrong; 3 stars left out)
        ("rating_agreement_binary", pa.float64()),
    ]
)

# One row per (feature, reference): reports/drift/dt=D/.
DRIFT = pa.schema(
    [
        ("feature", pa.string()),
        ("reference", pa.string()),  # rolling_7d | baseline
        ("statistic", pa.float64()),  # KS D, or TVD for chi2 features
        ("p_value", pa.float64()),
        ("p_adjusted", pa.float64()),
        ("threshold", pa.float64()),
        ("alpha", pa.float64()),
        ("n_today", pa.int64()),
        ("n_reference", pa.int64()),
        ("verdict", pa.string()),
        ("reference_days", pa.string()),  # comma-separated dt values the reference was built from
        ("run_id", pa.string()),
        ("test", pa.string()),  # ks | chi2
        ("mean_today", pa.float64()),
        ("mean_reference", pa.float64()),
    ]
)

# One row per stage and a total: reports/run_summary/dt=D/.
RUN_SUMMARY = pa.schema(
    [
        ("stage", pa.string()),  # a stage, or "total"
        ("tasks", pa.int32()),  # task instances (mapped stages have one per file/shard)
        ("rows", pa.int64()),  # rows the stage processed (ingest: records read)
        ("task_seconds", pa.float64()),  # seconds inside the stage, summed over its tasks
        ("rows_per_second", pa.float64()),  # rows / task_seconds: per worker slot
        ("errors", pa.int64()),  # rows the stage quarantined
        ("peak_rss_mb", pa.float64()),  # largest peak RSS of the stage's task processes
        ("price_per_hour", pa.float64()),  # price of one worker slot for this stage
        ("cost", pa.float64()),  # task_seconds / 3600 * price_per_hour
        ("cost_per_1000_reviews", pa.float64()),  # cost / rows_in * 1000
        ("model_version", pa.string()),
        ("provider", pa.string()),
        ("run_id", pa.string()),
    ]
)

# One row per (model role, scope): reports/model_comparison/dt=D/.
MODEL_COMPARISON = pa.schema(
    [
        ("role", pa.string()),  # champion | challenger
        ("model_version", pa.string()),
        ("other_version", pa.string()),  # the model this row is compared with
        ("compared_on", pa.string()),  # "3-class labels" or "labels; binary model's neutral is its P(positive) band"
        ("scope", pa.string()),  # overall | product
        ("product_id", pa.string()),
        ("status", pa.string()),  # ok | partial: k of n shards | missing: <why>
        ("shadow_fraction", pa.float64()),
        ("rows", pa.int64()),  # rows scored by both models
        ("n_negative", pa.int64()),
        ("n_neutral", pa.int64()),
        ("n_positive", pa.int64()),
        ("negative_share", pa.float64()),
        ("neutral_share", pa.float64()),
        ("positive_share", pa.float64()),
        ("mean_p_positive", pa.float64()),
        ("agree", pa.int64()),  # rows where both models give the same label
        ("agreement", pa.float64()),
        ("kappa", pa.float64()),  # Cohen's kappa of the two models' labels
        *[(f"flips_{a}_to_{b}", pa.int64()) for a, b in FLIPS],  # champion label -> challenger label
        ("rated_rows", pa.int64()),  # compared rows with a star rating
        ("correct_3class", pa.int64()),  # label == stars (1-2 negative, 3 neutral, 4-5 positive)
        ("accuracy_3class", pa.float64()),
        ("accuracy_3class_low", pa.float64()),  # 95% Wilson interval
        ("accuracy_3class_high", pa.float64()),
        ("rated_rows_binary", pa.int64()),  # compared rows with 1-2 or 4-5 stars
        ("correct_binary", pa.int64()),  # P(positive) > P(negative) iff 4-5 stars
        ("accuracy_binary", pa.float64()),
        ("accuracy_binary_low", pa.float64()),
        ("accuracy_binary_high", pa.float64()),
        # Overall rows only: McNemar's exact test of the two models' binary correctness.
        ("mcnemar_champion_only", pa.int64()),  # rated rows only the champion gets right
        ("mcnemar_challenger_only", pa.int64()),
        ("mcnemar_p", pa.float64()),
        ("rows_needed_80_power", pa.int64()),  # rated rows per model a difference this size needs
        ("run_id", pa.string()),
    ]
)

# One row per (scope, product) of an ISO week: reports/rollup/week=YYYY-Www/.
ROLLUP = pa.schema(
    [
        ("scope", pa.string()),
        ("product_id", pa.string()),
        ("days", pa.int64()),
        ("first_day", pa.string()),
        ("last_day", pa.string()),
        ("complete", pa.bool_()),
        ("rows_in", pa.int64()),
        ("rows_reported", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("rows_rated", pa.int64()),
        ("negative_share", pa.float64()),
        ("neutral_share", pa.float64()),
        ("positive_share", pa.float64()),
        ("mean_score", pa.float64()),
        ("rating_agreement", pa.float64()),
        ("pii_entities", pa.int64()),
        ("drift_days", pa.int64()),
        ("run_id", pa.string()),
        ("rating_agreement_binary", pa.float64()),
    ]
)


def quarantine_rows(rows: list[dict], run_id: str = "") -> pa.Table:
    cols = {name: [r.get(name) for r in rows] for name in QUARANTINE.names}
    cols["run_id"] = [run_id] * len(rows)
    return pa.table(cols, schema=QUARANTINE)
