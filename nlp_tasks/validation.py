"""Row-level validation of ingested reviews with a Great Expectations 1.x suite.

GX evaluates the suite over the day's rows and reports the failing row indices of each
expectation; every failing row is quarantined with the expectation(s) it broke. GX is
imported here, inside the function that runs it, never at DAG parse time.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import pyarrow as pa

from .schema import VALIDATED

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 100_000
ROW = "_row"
VALID_RATINGS = ["1", "2", "3", "4", "5"]


@dataclass
class ValidationResult:
    valid: pa.Table
    rejects: list[dict]
    expectations: list[dict]  # expectation type, column, success, unexpected_count


def build_suite():
    """The expectation suite for the canonical review schema, in code."""
    import great_expectations as gx

    E = gx.expectations
    suite = gx.ExpectationSuite(name="reviews_canonical")
    for exp in (
        E.ExpectColumnValuesToNotBeNull(column="review_id", meta={"reason": "missing review_id"}),
        E.ExpectColumnValuesToNotBeNull(column="text", meta={"reason": "missing text"}),
        E.ExpectColumnValuesToMatchRegex(column="text", regex=r"\S", meta={"reason": "empty text"}),
        E.ExpectColumnValueLengthsToBeBetween(
            column="text", max_value=MAX_TEXT_CHARS, meta={"reason": f"text longer than {MAX_TEXT_CHARS} characters"}
        ),
        E.ExpectColumnValuesToBeUnique(column="review_id", meta={"reason": "duplicate review_id"}),
        E.ExpectColumnValuesToBeInSet(column="rating", value_set=VALID_RATINGS, meta={"reason": "rating not an integer in 1..5"}),
        E.ExpectColumnValuesToBeDateutilParseable(column="created_at", meta={"reason": "created_at not a parseable date"}),
    ):
        suite.add_expectation(exp)
    return suite


def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    try:
        ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    except Exception:  # progress bars are cosmetic; older/newer GX may name this differently
        pass
    return ctx


def _normalise_rating(values: "pd.Series") -> "pd.Series":
    # "4", "4.0" and 4 all mean four stars; anything else stays as given and fails the set check.
    s = values.astype("string").str.strip()
    return s.str.replace(r"^([1-5])\.0+$", r"\1", regex=True)


def validate(table: pa.Table) -> ValidationResult:
    """Split ingested rows into valid (typed) rows and rejects with reasons."""
    import pandas as pd

    df = table.to_pandas()
    df[ROW] = range(len(df))
    df["rating"] = _normalise_rating(df["rating"])
    reasons: dict[int, list[str]] = {}
    summary: list[dict] = []
    if len(df):
        ctx = _context()
        batch = (
            ctx.data_sources.add_pandas("reviews")
            .add_dataframe_asset("day")
            .add_batch_definition_whole_dataframe("all")
            .get_batch(batch_parameters={"dataframe": df})
        )
        suite = ctx.suites.add(build_suite())
        result = batch.validate(
            suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW]}
        )
        for r in result.results:
            cfg = r.expectation_config
            reason = (cfg.meta or {}).get("reason", cfg.type)
            rows = [int(u[ROW]) for u in (r.result.get("unexpected_index_list") or [])]
            if cfg.type == "expect_column_values_to_be_unique":
                rows = _later_duplicates(df, rows)
            for i in rows:
                reasons.setdefault(i, []).append(reason)
            # Only counts leave this function: GX results quote the offending values.
            summary.append(
                {"expectation": cfg.type, "column": cfg.kwargs.get("column"), "success": bool(not rows), "unexpected_count": len(rows)}
            )
    bad = df[ROW].isin(list(reasons))
    rejects = [
        {
            "review_id": rid if isinstance(rid, str) else None,
            "source_file": src,
            "source_row": int(line),
            "stage": "validate",
            "reason": "; ".join(dict.fromkeys(reasons[i])),
            "text": text if isinstance(text, str) else None,
        }
        for i, rid, src, line, text in df.loc[bad, [ROW, "review_id", "source_file", "source_row", "text"]].itertuples(
            index=False
        )
    ]
    good = df.loc[~bad]
    valid = pa.table(
        {
            "review_id": good["review_id"].astype("string"),
            "text": good["text"].astype("string"),
            "title": good["title"].astype("string"),
            "product_id": good["product_id"].astype("string"),
            "rating": pd.to_numeric(good["rating"], errors="coerce").astype("Int8"),
            "created_at": pd.to_datetime(good["created_at"], errors="coerce", utc=True, format="mixed"),
            "source_file": good["source_file"].astype("string"),
            "source_row": good["source_row"].astype("int64"),
            "source_kind": good["source_kind"].astype("string"),
        }
    )
    valid = valid.cast(VALIDATED) if len(valid) else VALIDATED.empty_table()
    return ValidationResult(valid, rejects, summary)


def _later_duplicates(df, flagged: list[int]) -> list[int]:
    """GX flags every member of a duplicate group; keep the first seen, reject the rest."""
    if not flagged:
        return []
    sub = df.iloc[flagged].sort_values(["source_file", "source_row"])
    return [int(i) for i in sub.loc[sub.duplicated("review_id", keep="first"), ROW]]
