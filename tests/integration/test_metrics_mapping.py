"""deploy/statsd-mapping.yaml, its copy in the Helm values and the Grafana dashboard agree:
every StatsD metric the pipeline sends maps to a labelled series, and every panel queries a
series the mapping produces. (The real datagrams of a run are checked in test_ui_browser.py
and test_celery_deployment.py with the same helper.)"""

from __future__ import annotations

import re

import yaml

from nlp_tasks import observability

from .statsd_mapping import DASHBOARD, REPO, apply, check_datagrams, dashboard_queries, mappings, series


class _Recorder:
    """A StatsD client that keeps the datagrams plain StatsD would send."""

    def __init__(self):
        self.lines = []

    def incr(self, name, n=1, tags=None):
        self.lines.append(f"airflow.{name}:{n}|c")

    def gauge(self, name, v, tags=None):
        self.lines.append(f"airflow.{name}:{v}|g")

    def timing(self, name, ms, tags=None):
        self.lines.append(f"airflow.{name}:{ms}|ms")


def test_helm_values_carry_the_same_mappings():
    values = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    assert values["statsd"]["enabled"] is True
    assert values["statsd"]["extraMappings"] == mappings()
    assert (
        values["config"]["metrics"]["statsd_on"] == "True"
        and values["config"]["metrics"]["statsd_influxdb_enabled"] == "True"
    )


def test_what_observability_emits_maps_to_labelled_series():
    rec = _Recorder()
    result = {
        "rows": 10,
        "errors": 1,
        "seconds": 2.0,
        "pii": {"EMAIL": 2, "IBAN": 1},
        "model_version": "minilm-1.2",
        "provider": "CPUExecutionProvider",
        "peak_rss_mb": 300.0,
    }
    for stage in ("ingest", "validate", "redact", "score", "shadow_score", "drift", "publish"):
        observability.emit(rec, stage, result, tags={"dag_id": "review_sentiment_nightly"})
    observability.emit_run(
        rec,
        {
            "rows_in": 10,
            "rows_reported": 9,
            "rows_quarantined": 1,
            "pii_entities": 3,
            "drift_verdict": "drift",
            "run_summary": {"task_seconds": 20.0, "cost_per_1000_reviews": 0.01},
        },
    )
    got = check_datagrams(rec.lines)
    assert {
        "nlp_tasks_rows_total",
        "nlp_tasks_errors_total",
        "nlp_tasks_stage_seconds",
        "nlp_tasks_rows_per_second",
        "nlp_tasks_peak_rss_mb",
        "nlp_tasks_pii_entities_total",
        "nlp_tasks_scoring_tasks_total",
        "nlp_tasks_run_rows_in",
        "nlp_tasks_run_cost_per_1000_reviews",
        "nlp_tasks_run_drift",
    } <= set(got)
    assert apply("airflow.nlp_tasks.score.model.minilm-1_2.CPUExecutionProvider") == (
        "nlp_tasks_scoring_tasks_total",
        {"stage": "score", "model_version": "minilm-1_2", "provider": "CPUExecutionProvider"},
    )
    assert apply("airflow.nlp_tasks.pii.iban") == ("nlp_tasks_pii_entities_total", {"type": "iban"})
    assert apply("airflow.nlp_tasks.run.rows_in") == ("nlp_tasks_run_rows_in", {})
    assert apply("airflow.nlp_tasks.validate_batch.rows") == ("nlp_tasks_rows_total", {"stage": "validate_batch"})
    assert apply("airflow.scheduler_heartbeat") is None  # Airflow's own metrics keep the chart's mappings


def test_every_panel_queries_a_series_the_mapping_produces():
    produced = series()
    queries = dashboard_queries()
    assert len(queries) >= 12, queries
    titles = " ".join(t for t, _ in queries).lower()
    for topic in (
        "rows per second",
        "seconds per stage",
        "pii",
        "quarantine",
        "drift",
        "model version",
        "cost per 1,000",
        "inference share",
    ):
        assert topic in titles, topic
    for title, expr in queries:
        names = set(re.findall(r"\bnlp_tasks_[a-z0-9_]+", expr))
        assert names, (title, expr)
        for name in names:
            assert name in produced, (title, name)
            # Every label the query groups or filters by exists on that series (dag_id comes as a tag).
            used = set(re.findall(r"by \(([^)]*)\)", expr)) | set(re.findall(rf"{name}\{{([^}}]*)\}}", expr))
            labels = {
                item.strip().split("=")[0].rstrip("!~") for group in used for item in group.split(",") if item.strip()
            }
            assert labels <= produced[name] | {"dag_id"}, (title, name, labels)
    assert DASHBOARD.exists()
