"""Transient S3 failures (throttling, 5xx, dropped connections) are retried with backoff:
the real DAG completes through a proxy that breaks every fifth request to moto's server."""

from __future__ import annotations

import json

import pytest

from nlp_tasks import layout
from nlp_tasks.sample_data import write_day
from nlp_tasks.storage import Lake, S3Options
from tests.helpers import read, run_dag

from ..s3_faults import FaultyS3Proxy

pytestmark = pytest.mark.e2e

DAY = "2026-05-01"


def test_storage_retries_each_kind_of_fault(s3_endpoint, s3_bucket):
    with FaultyS3Proxy(s3_endpoint, every=3) as proxy:
        lake = Lake(
            f"s3://{s3_bucket}/x",
            S3Options(endpoint_url=proxy.url, access_key="testing", secret_key="testing", region="us-east-1"),
        )
        for i in range(6):
            lake.write_text(lake.uri(f"f{i}.txt"), f"payload {i}")
        assert [lake.read_text(lake.uri(f"f{i}.txt")) for i in range(6)] == [f"payload {i}" for i in range(6)]
        assert len(lake.list_files(lake.uri(""))) == 6
    assert all(n > 0 for n in proxy.injected.values()), proxy.injected


def test_dag_survives_transient_s3_faults(airflow_env, s3_endpoint, s3_lake):
    seed = write_day(s3_lake, DAY, n_reviews=40)
    with FaultyS3Proxy(s3_endpoint, every=8) as proxy:
        env = dict(airflow_env)
        conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
        conn["extra"]["endpoint_url"] = proxy.url
        env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(conn)
        run_dag(env, DAY, {"data_root": s3_lake.root, "max_invalid_fraction": 0.25})
    assert sum(proxy.injected.values()) >= 5, proxy.injected
    manifest = json.loads(s3_lake.read_text(s3_lake.uri(layout.manifest(DAY))))
    assert manifest["rows_in"] == seed["records"]
    assert read(s3_lake, layout.report("sentiment", DAY)).num_rows == seed["records"] - seed["expected_bad"]
