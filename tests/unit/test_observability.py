"""Stage metrics through a real StatsD client over UDP, the log context, and the run's cost."""

from __future__ import annotations

import logging
import socket

import pytest

from nlp_tasks import observability as obs


@pytest.fixture
def udp_listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    yield sock
    sock.close()


def _drain(sock) -> list[str]:
    out = []
    try:
        while True:
            out += sock.recv(65535).decode().splitlines()
            sock.settimeout(0.3)
    except TimeoutError:
        return out


def test_stage_metrics_reach_a_statsd_server(udp_listener, monkeypatch):
    """Through Airflow's own Stats, configured the way a task runner configures it."""
    from airflow.sdk.observability.metrics import stats_utils
    from airflow.sdk.observability.stats import Stats

    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(udp_listener.getsockname()[1]))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    Stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
    client = Stats
    result = {
        "shard": "s3://b/_work/x/part-00003.parquet",
        "rows": 5000,
        "seconds": 12.5,
        "model_version": "minilm-sst2-ec2ccd67be",
        "provider": "CPUExecutionProvider",
    }
    m = obs.emit(client, "score", result)
    assert m["rows_per_second"] == 400.0
    obs.emit(client, "redact", {"rows": 10, "seconds": 0.5, "pii": {"EMAIL": 3, "SSN": 0}})
    lines = _drain(udp_listener)
    assert "airflow.nlp_tasks.score.rows:5000|c" in lines
    assert "airflow.nlp_tasks.score.errors:0|c" in lines
    assert "airflow.nlp_tasks.score.seconds:12500.000000|ms" in lines
    assert "airflow.nlp_tasks.score.rows_per_second:400.0|g" in lines
    assert "airflow.nlp_tasks.score.model.minilm-sst2-ec2ccd67be.CPUExecutionProvider:1|c" in lines
    assert "airflow.nlp_tasks.pii.email:3|c" in lines
    assert "airflow.nlp_tasks.redact.rows_per_second:20.0|g" in lines
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger

    Stats.initialize(factory=NoStatsLogger, export_legacy_names=False)


def test_peak_rss_is_this_process():
    import resource

    assert obs.peak_rss_mb() == pytest.approx(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, abs=0.1)
    assert obs.peak_rss_mb() > 10


def test_metric_segments_cannot_add_levels():
    assert obs.metric_segment("v1.2/beta x") == "v1_2_beta_x"
    assert obs.metric_segment("") == "none"


def test_log_context_is_on_every_line_and_unwinds(caplog):
    logger = logging.getLogger("nlp_tasks.test_observability")
    flt = obs.ContextFilter(suffix=True)
    logger.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            with obs.log_context(
                run_id="scheduled__2026-03-01", dt="2026-03-01", stage="score", shard="part-00001.parquet"
            ):
                logger.info("scored %d rows", 10)
                with obs.log_context(shard="part-00002.parquet"):
                    logger.info("inner")
                logger.info("after inner")
            logger.info("outside")
    finally:
        logger.removeFilter(flt)
    recs = caplog.records
    assert recs[0].run_id == "scheduled__2026-03-01" and recs[0].shard == "part-00001.parquet"
    assert "[run_id=scheduled__2026-03-01 dt=2026-03-01 stage=score shard=part-00001.parquet]" in recs[0].getMessage()
    assert recs[1].shard == "part-00002.parquet"
    assert recs[2].shard == "part-00001.parquet"
    assert not hasattr(recs[3], "run_id") and obs.current_context() == {}


def test_structlog_context_is_bound_for_airflow_task_logs():
    import structlog

    with obs.log_context(run_id="r1", dt="2026-03-01", shard=None):
        assert structlog.contextvars.get_contextvars() == {"run_id": "r1", "dt": "2026-03-01"}
    assert structlog.contextvars.get_contextvars() == {}


def test_run_summary_prices_task_seconds_per_stage():
    stages = {
        "ingest": [{"rows": 600, "rejected": 2, "seconds": 1.0}, {"rows": 400, "rejected": 0, "seconds": 1.0}],
        "validate": [{"rows": 998, "rejected": 3, "seconds": 2.0}],
        "redact": [{"rows": 500, "seconds": 0.5}, {"rows": 495, "seconds": 0.5}],
        "score": [
            {
                "rows": 500,
                "seconds": 30.0,
                "model_version": "m1",
                "provider": "CPUExecutionProvider",
                "peak_rss_mb": 900.0,
            },
            {
                "rows": 495,
                "seconds": 30.0,
                "model_version": "m1",
                "provider": "CPUExecutionProvider",
                "peak_rss_mb": 950.0,
            },
        ],
        "drift": [{"rows": 995, "seconds": 1.0, "peak_rss_mb": 300.0}],
        "publish": [{"rows": 1000, "seconds": 2.0, "peak_rss_mb": 250.5}],
    }
    table, brief = obs.run_summary(stages, 1000, "run-1", price_per_hour=0.36, inference_price_per_hour=3.6)
    rows = {r["stage"]: r for r in table.to_pylist()}
    assert list(rows) == ["ingest", "validate", "redact", "score", "shadow_score", "drift", "publish", "total"]
    assert rows["ingest"]["rows"] == 1000 and rows["ingest"]["tasks"] == 2 and rows["ingest"]["errors"] == 2
    assert rows["score"]["rows_per_second"] == pytest.approx(995 / 60.0, abs=0.1)
    assert rows["score"]["cost"] == pytest.approx(60 / 3600 * 3.6)
    assert rows["redact"]["cost"] == pytest.approx(1 / 3600 * 0.36)
    total = rows["total"]
    assert total["task_seconds"] == pytest.approx(68.0)
    assert total["cost"] == pytest.approx(8 / 3600 * 0.36 + 60 / 3600 * 3.6)
    assert total["cost_per_1000_reviews"] == pytest.approx(total["cost"])  # 1,000 reviews
    assert total["errors"] == 5 and total["model_version"] == "m1"
    assert rows["score"]["peak_rss_mb"] == 950.0 and rows["ingest"]["peak_rss_mb"] is None
    assert total["peak_rss_mb"] == 950.0
    assert brief["inference_share"] == pytest.approx(60 / 68, abs=1e-4)
    assert brief["stages"]["validate"]["rows_per_second"] == 499.0


def test_run_summary_of_an_empty_day():
    table, brief = obs.run_summary({"publish": [{"rows": 0, "seconds": 0.1}]}, 0, "r", 0.1)
    total = table.to_pylist()[-1]
    assert total["rows"] == 0 and total["cost_per_1000_reviews"] is None
    assert brief["cost_per_1000_reviews"] is None
