"""Weekly rollup of the daily summaries, and the Asset-scheduled DAG that runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from nlp_tasks import layout, rollup
from nlp_tasks.schema import SUMMARY

REPO = Path(__file__).resolve().parents[2]


def summary_day(lake, day, n, neg, agree, rated, verdict="ok", with_rated=True):
    rows = [
        {
            "scope": "overall",
            "product_id": None,
            "rows_in": n + 1,
            "rows_reported": n,
            "rows_quarantined": 1,
            "negative_share": neg,
            "neutral_share": 0.1,
            "positive_share": 0.9 - neg,
            "mean_score": 1 - neg,
            "rating_agreement": agree,
            "pii_entities": 2,
            "drift_verdict": verdict,
            "run_id": "r",
            "rows_rated": rated,
        },
        {
            "scope": "product",
            "product_id": "p1",
            "rows_in": None,
            "rows_reported": n,
            "rows_quarantined": None,
            "negative_share": neg,
            "neutral_share": 0.1,
            "positive_share": 0.9 - neg,
            "mean_score": 1 - neg,
            "rating_agreement": agree,
            "pii_entities": 2,
            "drift_verdict": verdict,
            "run_id": "r",
            "rows_rated": rated,
        },
    ]
    table = pa.Table.from_pylist(rows, schema=SUMMARY)
    if not with_rated:  # a partition written before rows_rated existed
        table = table.drop_columns(["rows_rated"])
    prefix = lake.uri(layout.report("summary", day))
    lake.write_parquet(table, prefix + "/part-00000.parquet")
    lake.write_text(prefix + "/_SUCCESS", "{}\n")


def test_iso_weeks():
    assert rollup.iso_week("2026-11-17") == "2026-W47"
    assert rollup.week_days("2026-W47") == [f"2026-11-{d}" for d in range(16, 23)]
    assert rollup.iso_week("2027-01-01") == "2026-W53"


def test_rollup_week_weights_and_replaces(local_lake):
    summary_day(local_lake, "2026-11-15", 999, 0.9, 0.1, 999)  # Sunday of the week before: not included
    summary_day(local_lake, "2026-11-16", 100, 0.2, 0.8, 50)
    summary_day(local_lake, "2026-11-17", 300, 0.4, 0.6, 150, verdict="drift", with_rated=False)
    res = rollup.rollup_week(local_lake, "2026-11-17", "roll-1")
    assert res["week"] == "2026-W47" and res["days"] == ["2026-11-16", "2026-11-17"]
    assert res["uri"] == local_lake.uri("reports/rollup/week=2026-W47/part-00000.parquet")
    rows = local_lake.read_parquet(res["uri"]).to_pylist()
    overall = rows[0]
    assert overall["scope"] == "overall" and overall["days"] == 2 and not overall["complete"]
    assert overall["rows_reported"] == 400 and overall["rows_in"] == 402 and overall["rows_quarantined"] == 2
    assert overall["negative_share"] == pytest.approx((100 * 0.2 + 300 * 0.4) / 400)
    # agreement weighted by rated rows (50) where known, reported rows (300) for the old partition
    assert overall["rating_agreement"] == pytest.approx((50 * 0.8 + 300 * 0.6) / 350)
    assert overall["drift_days"] == 1 and overall["pii_entities"] == 4 and overall["first_day"] == "2026-11-16"
    assert rows[1]["product_id"] == "p1" and rows[1]["rows_in"] is None
    for d in range(18, 23):
        summary_day(local_lake, f"2026-11-{d}", 10, 0.5, 0.5, 10)
    again = rollup.rollup_week(local_lake, "2026-11-22", "roll-2")
    table = local_lake.read_parquet(again["uri"])
    assert table.column("complete").to_pylist() == [True, True] and table.column("days").to_pylist() == [7, 7]
    assert local_lake.list_files(local_lake.uri("reports/rollup/week=2026-W47")) == [again["uri"]]
    assert (
        json.loads(local_lake.read_text(local_lake.uri("reports/rollup/week=2026-W47/_SUCCESS")))["run_id"] == "roll-2"
    )
    assert rollup.latest_summary_day(local_lake) == "2026-11-22"
    assert rollup.rollup_week(local_lake, "2026-12-30", "x")["uri"] is None  # nothing published that week


def test_rollup_dag_in_a_real_dagbag(tmp_path):
    """A real DagBag over dags/ in a fresh interpreter: no import errors, scheduled on the Asset
    that the nightly publish updates, and no heavy library imported at parse time."""
    code = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(REPO / 'dags')!r})\n"
        "dag = bag.dags['review_sentiment_rollup']\n"
        "from nlp_tasks.airflow.assets import REVIEW_REPORTS\n"
        "libs = ('pandas', 'pyarrow', 'numpy', 'scipy', 'matplotlib', 'tokenizers', 'onnxruntime', 'onnx',\n"
        "        'openvino', 'torch', 'transformers', 'peft', 'great_expectations', 'presidio_analyzer', 'boto3')\n"
        "heavy = sorted(m for m in libs if m in sys.modules)\n"
        "glue = ('nlp_tasks', 'nlp_tasks.roots', 'nlp_tasks.airflow')\n"
        "heavy += sorted(m for m in sys.modules if m.startswith('nlp_tasks') and m not in glue\n"
        "                and not m.startswith('nlp_tasks.airflow.'))\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()}, 'tasks': dag.task_ids,\n"
        "  'assets': [a.name for a in dag.timetable.asset_condition.objects],\n"
        "  'reports': REVIEW_REPORTS.name, 'uri': REVIEW_REPORTS.uri, 'heavy': heavy, 'params': sorted(dag.params)}))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=tmp_path
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["errors"] == {} and got["tasks"] == ["rollup"] and got["heavy"] == []
    assert got["assets"] == ["review_sentiment_reports"] and got["reports"] == "review_sentiment_reports"
    assert got["params"] == ["aws_conn_id", "data_root", "day"]


def test_rollup_reads_the_triggering_event(tmp_path, monkeypatch):
    import datetime as dt
    import importlib.util

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    spec = importlib.util.spec_from_file_location("rollup_dag", REPO / "dags" / "review_sentiment_rollup.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    class Event:
        def __init__(self, ts, extra):
            self.timestamp, self.extra = ts, extra

    t0 = dt.datetime(2026, 11, 17, 2, tzinfo=dt.UTC)
    events = [
        Event(t0, {"dt": "2026-11-16"}),
        Event(t0 + dt.timedelta(hours=1), {"dt": "2026-11-17", "data_root": "s3://b/p"}),
    ]

    class Accessor(dict):
        pass

    ctx = {"triggering_asset_events": Accessor({mod.REVIEW_REPORTS: events})}
    assert mod._latest_event_extra(ctx) == {"dt": "2026-11-17", "data_root": "s3://b/p"}
    assert mod._latest_event_extra({"triggering_asset_events": Accessor()}) == {}
