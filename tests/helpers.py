"""Builders shared by the test modules: plain functions and data, no fixtures (those live in the
conftest.py files). Test modules import from here, never from each other."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pyarrow as pa

from nlp_tasks import layout, partitions, pipeline
from nlp_tasks import publish as publishing
from nlp_tasks.schema import SENTIMENT_REPORT

# -- S3 (moto's server) ---------------------------------------------------------------------
S3_KEYS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


def aws_connection(endpoint: str) -> str:
    """An Airflow `aws` connection (as AIRFLOW_CONN_* JSON) for the moto server."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": S3_KEYS["access_key"],
            "password": S3_KEYS["secret_key"],
            "extra": {"endpoint_url": endpoint, "region_name": S3_KEYS["region"]},
        }
    )


# -- published days ---------------------------------------------------------------------------
SECRET = "zebra-unicorn-text"  # appears only in review text: must never reach a page or a log


def report_table(rng, n: int, day: str, long: bool = False, text: str = "fine words here") -> pa.Table:
    """A day's reports/sentiment rows: random scores and labels, texts of ~40-60 (x4 if long) chars."""
    lengths = rng.integers(40, 60, n) * (4 if long else 1)
    texts = [(text + " ") * int(k // 16) for k in lengths]
    scores = rng.beta(2, 2, n).astype(np.float32)
    labels = np.where(scores < 0.4, "negative", np.where(scores < 0.6, "neutral", "positive"))
    cols = {name: [None] * n for name in SENTIMENT_REPORT.names}
    cols.update(
        review_id=[f"{day}-{i}" for i in range(n)],
        product_id=[f"p{i % 4}" for i in range(n)],
        rating=rng.integers(1, 6, n).astype(np.int8).tolist(),
        text_redacted=texts,
        label=labels.tolist(),
        score=scores.tolist(),
        pii_entities=rng.integers(0, 2, n).astype(np.int32).tolist(),
        run_id=["r"] * n,
    )
    return pa.table(cols, schema=SENTIMENT_REPORT)


def publish_report(lake, day: str, table: pa.Table) -> None:
    """A complete reports/sentiment partition of one file, as publish leaves it."""
    prefix = lake.uri(layout.report(layout.SENTIMENT, day))
    lake.write_parquet(table, f"{prefix}/{layout.SINGLE_FILE}")
    lake.write_text(f"{prefix}/{layout.SUCCESS}", "{}\n")


def summary_of(run_id: str, report: pa.Table, rows_in: int, rows_quarantined: int, verdict: str) -> pa.Table:
    """The summary partition publish would write for an in-memory report table."""
    sums = publishing.SummarySums()
    if report.num_rows:
        sums.add(report)
    return publishing.summary_table(sums, rows_in, rows_quarantined, verdict, run_id)


def publish_day(lake, day: str, rng, long: bool = False) -> pa.Table:
    """A day's sentiment, summary and drift partitions, as publish leaves them."""
    run = pipeline.Run(lake, day, f"run-{day}")
    report = report_table(rng, 300, day, long=long, text=f"{SECRET} words")
    uri = run.work("scored", layout.SINGLE_FILE)
    lake.write_parquet(report, uri)
    drift = pipeline.drift(run, [uri])
    summary = summary_of(run.run_id, report, 310, 10, drift["verdict"])
    for table, t in ((layout.SUMMARY, summary), (layout.DRIFT, lake.read_parquet(drift["uri"]))):
        partitions.write(lake, lake.uri(layout.report(table, day)), t, run.run_id)
    publish_report(lake, day, report)
    return summary


# A day's drift verdict as the drift task returns it (feature names, never text).
DRIFT_RESULT = {
    "verdict": "drift",
    "drifted": ["text_length"],
    "drifted_by_reference": {"rolling_7d": ["text_length"], "baseline": []},
    "reference_days": ["2026-11-01", "2026-11-02"],
    "baseline_date": None,
}


# -- faults -------------------------------------------------------------------------------------
class CopyKilledLake:
    """A lake whose n-th copy fails, as if the worker were killed there (a commit or a publish
    killed half-way). ``only``: count only copies whose source holds it (e.g. "/_staging/")."""

    def __init__(self, lake, n: int, only: str | None = None):
        self._lake, self._n, self._only = lake, n, only

    def __getattr__(self, name):
        return getattr(self._lake, name)

    def copy(self, src, dst):
        if self._only is None or self._only in src:
            self._n -= 1
            if self._n == 0:
                raise OSError("injected: killed during commit")
        return self._lake.copy(src, dst)


# -- the DAG run by a real Airflow (`airflow dags test`) -----------------------------------------
RAW_PII = ("@example.com", "4111 1111 1111 1111", "(415) 555-", "+44 20 7946")


def run_dag(env: dict, day: str, conf: dict, succeed: bool = True) -> str:
    """`airflow dags test` for one day; asserts the run succeeded (or, with succeed=False, failed)."""
    proc = subprocess.run(
        ["airflow", "dags", "test", "review_sentiment_nightly", day, "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    tail = "\n".join(out.splitlines()[-60:])
    if succeed:
        assert proc.returncode == 0, f"DAG run for {day} failed:\n" + tail
    else:
        assert proc.returncode != 0, f"DAG run for {day} succeeded, expected a failure:\n" + tail
    return out


def read(lake, prefix: str):
    return partitions.read(lake, lake.uri(prefix))


# -- PII texts ------------------------------------------------------------------------------------
IDEMPOTENCE_TEXTS = [
    "mail a@example.com, call (415) 555-2671 x9, card 4242 4242 4242 4242",
    "ssn 536-90-4399 from 10.0.0.1 paying GB82 WEST 1234 5698 7654 32",
    "Already clean: [EMAIL] [PHONE] [CARD] [SSN] [IP] [IBAN]",
]

HARD_NEGATIVES = [
    "Paid $1,299.99 and later €49.99, total 1,234,567.00",
    "Delivered 2024-03-15, ordered 03/15/2024, returned 15.03.2024 at 14:30 or 2:30 PM",
    "Timestamp 2024-03-15 14:30:00 in the log",
    "Order #123456789 arrived; invoice INV-2024-000123",
    "Order 123456789 and order number 987654321 were late",
    "Your order number is 12 345 678, case no. 555-1234",
    "Amazon order 112-3456789-1234567",
    "ISBN 978-0-306-40615-7, ISBN-10 0-306-40615-2 and 978-3-16-148410-0",
    "UPS tracking 1Z999AA10123456784, FedEx 7489 2340 1234 or 123456789012",
    "USPS tracking number 9400 1000 0000 0000 0000 00",
    "Ship to 94107-1234 please, zip 10001, PO box 1234",
    "Updated firmware to v2.3.14, then version 2.3.14.1 and build 10.0.19045.3693",
    "My SM-G991B beats the WH-1000XM4 and the iPhone 15 Pro",
    "created_at 1700000000000 ms (1700000000 s)",
    "It costs 12 345 678 yen; rated 4.5/5, 10/10 would buy, 3 x 4 x 5 cm",
    "Pages 123-456, chapter 12, room 1204, size 10-12, 5000 mAh, 1080p, 4K",
    "Waited 2-3 weeks, batch 12-345-6789, lot 2023 11 05",
    "Scored 99.5% on 3.14159 and 2.71828 tests",
]
