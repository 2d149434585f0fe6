"""The data-lake layout: the one place that knows where each kind of object lives.

Readers (pandas, DuckDB, Athena) rely on these paths; changing one is a breaking change.
"""

from __future__ import annotations

import datetime as dt
import re

REVIEW_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
PDF_SUFFIXES = (".pdf",)

# Report tables, each under reports/<table>/ and Hive-partitioned by dt (rollup: by week).
SENTIMENT = "sentiment"
SUMMARY = "summary"
DRIFT = "drift"
RUN_SUMMARY = "run_summary"
MODEL_COMPARISON = "model_comparison"
HTML = "html"
DATA_DOCS = "data_docs"
ROLLUP = "rollup"
# Published by every nightly run.
REPORT_TABLES = (SENTIMENT, SUMMARY, DRIFT, RUN_SUMMARY)
REPORTS = "reports"
QUARANTINE = "quarantine"
MANIFESTS = "manifests"

# A partition is complete when this object exists (nlp_tasks.partitions writes it last); a
# one-file table is this file, replaced in one atomic write.
SUCCESS = "_SUCCESS"
SINGLE_FILE = "part-00000.parquet"


def check_date(day: str) -> str:
    """Validate a YYYY-MM-DD partition date (it ends up in paths, so be strict)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day or ""):
        raise ValueError(f"partition date must be YYYY-MM-DD, got {day!r}")
    dt.date.fromisoformat(day)
    return day


def part(day: str) -> str:
    return f"dt={check_date(day)}"


def raw_reviews(day: str) -> str:
    return f"raw/reviews/{part(day)}"


def raw_pdfs(day: str) -> str:
    return f"raw/pdfs/{part(day)}"


def report_table(table: str) -> str:
    """The prefix of every partition of a report table."""
    return f"{REPORTS}/{table}"


def report(table: str, day: str) -> str:
    return f"{report_table(table)}/{part(day)}"


def rollup(week: str) -> str:
    """An ISO week's rollup partition (``week=YYYY-Www``)."""
    return f"{report_table(ROLLUP)}/week={week}"


def html_report(day: str) -> str:
    return f"{report(HTML, day)}/report.html"


def quarantine(day: str) -> str:
    return f"{QUARANTINE}/{part(day)}"


def manifest(day: str) -> str:
    return f"{MANIFESTS}/{part(day)}/manifest.json"


def work(day: str, run_key: str) -> str:
    """Scratch space of one run; never read by report consumers."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run_key)
    return f"_work/{part(day)}/{safe}"


def staging(day: str, run_key: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run_key)
    return f"_staging/{part(day)}/{safe}"


def models(name: str) -> str:
    return f"models/{name}"
