"""Assets shared by the review DAGs (standard library + Airflow only).

``REVIEW_REPORTS`` stands for one day's published reports (sentiment, summary, drift, html):
the nightly DAG's publish task declares it as an outlet, and every event carries
``extra={"dt": "YYYY-MM-DD", "data_root": "<root>"}`` so consumers know which partition is new
and where it lives. The URI is a stable logical name, not a location: the data root is a
per-run Param and may differ between deployments.
"""

from __future__ import annotations

from airflow.sdk import Asset

REVIEW_REPORTS = Asset(
    name="review_sentiment_reports",
    uri="nlp-tasks://reports/daily",
    group="nlp-reports",
    extra={"tables": "sentiment,summary,drift,html", "partitioned_by": "dt"},
)
