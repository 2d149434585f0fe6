"""The data-lake layout: the one place that knows where each kind of object lives.

Readers (pandas, DuckDB, Athena) rely on these paths; changing one is a breaking change.
"""

from __future__ import annotations

import datetime as dt
import re

REVIEW_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
PDF_SUFFIXES = (".pdf",)

# Report tables published per day, each Hive-partitioned by dt.
REPORT_TABLES = ("sentiment", "summary", "drift", "run_summary")


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


def report(table: str, day: str) -> str:
    return f"reports/{table}/{part(day)}"


def quarantine(day: str) -> str:
    return f"quarantine/{part(day)}"


def manifest(day: str) -> str:
    return f"manifests/{part(day)}/manifest.json"


def work(day: str, run_key: str) -> str:
    """Scratch space of one run; never read by report consumers."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run_key)
    return f"_work/{part(day)}/{safe}"


def staging(day: str, run_key: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run_key)
    return f"_staging/{part(day)}/{safe}"


def models(name: str) -> str:
    return f"models/{name}"
