"""The nightly DAG on a real, scaled-out Airflow 3: CeleryExecutor, PostgreSQL, Redis, S3.

The `celery_deployment` fixture (conftest.py) starts the api-server, the scheduler, the
dag-processor and two Celery workers (the default queue, and the inference queue a GPU
worker would serve) as separate processes. Then, as an operator would:

1. `airflow dags trigger` one day, with the S3 data root in the run's conf;
2. `airflow backfill create` over the next three days;
3. wait for the four runs to succeed (REST API), and check that every day's report
   partitions exist and reconcile with what the seed wrote, and that scoring ran on the
   inference queue and pool;
4. repeat the backfill in the other order (`--run-backwards --max-active-runs 1
   --reprocess-behavior completed`, after removing those days' published partitions): the
   same partitions come back with exactly the same content, drift included, nothing is added.
   Each day's drift is against its whole 7-day window and equals a recompute from the final
   partitions, after the forward pass and after the backwards one.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from itertools import pairwise

import pytest

from nlp_tasks import layout, partitions
from nlp_tasks.observability import metric_segment
from nlp_tasks.sample_data import write_day
from nlp_tasks.sentiment.engine import plan

from .conftest import DAG_ID, INFERENCE_POOL
from .statsd_mapping import check_datagrams

pytestmark = pytest.mark.integration

TRIGGER_DAY = "2026-03-01"
BACKFILL_DAYS = ["2026-03-02", "2026-03-03", "2026-03-04"]
N_REVIEWS = 24  # 6 of each day's records are malformed on purpose: hence max_invalid_fraction
RUN_TIMEOUT = 480
TABLES = ("sentiment", "summary", "drift")


def logical_date(day: str) -> str:
    # CronDataIntervalTimetable("0 0 * * *"): the run for day D has logical date D 00:00 UTC.
    return f"{day}T00:00:00+00:00"


def wait_for_runs(deployment, run_ids: set[str] | None, timeout: float = RUN_TIMEOUT) -> dict[str, dict]:
    """Poll the REST API until every run (of `run_ids`, or all) succeeded; fail fast on a failure."""
    deadline = time.time() + timeout
    while True:
        deployment.check_alive()
        runs = {r["dag_run_id"]: r for r in deployment.api("GET", f"/dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"]}
        wanted = {k: v for k, v in runs.items() if run_ids is None or k in run_ids}
        failed = [k for k, v in wanted.items() if v["state"] == "failed"]
        if failed:
            details = []
            for run_id in failed:
                tis = deployment.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")[
                    "task_instances"
                ]
                details.append(f"{run_id}: " + ", ".join(f"{t['task_id']}[{t['map_index']}]={t['state']}" for t in tis))
                details.append(deployment.task_log_tails(run_id))
            raise AssertionError("DAG run(s) failed:\n" + "\n".join(details) + "\n" + deployment.all_log_tails())
        if (
            wanted
            and (run_ids is None or set(wanted) == run_ids)
            and all(v["state"] == "success" for v in wanted.values())
        ):
            return wanted
        if time.time() > deadline:
            states = {k: v["state"] for k, v in wanted.items()}
            raise AssertionError(f"runs not done after {timeout:.0f}s: {states}\n" + deployment.all_log_tails())
        time.sleep(3)


def wait_for_backfills(deployment, count: int) -> list[dict]:
    """The scheduler marks a finished backfill complete on a 30 s timer; only then may the next
    one for the same DAG be created."""

    def done():
        backfills = deployment.api("GET", f"/backfills?dag_id={DAG_ID}")["backfills"]
        return backfills if len(backfills) == count and all(b["completed_at"] for b in backfills) else None

    return deployment.wait_for(f"{count} completed backfill(s)", done, timeout=90, interval=2)


def snapshot(lake, day: str) -> dict:
    """Everything a day publishes, minus what legitimately differs between runs (run_id, time)."""
    out = {}
    for table in TABLES:
        out[table] = partitions.read(lake, lake.uri(layout.report(table, day))).drop_columns(["run_id"])
    out["quarantine"] = partitions.read(lake, lake.uri(layout.quarantine(day))).drop_columns(["run_id"])
    manifest = json.loads(lake.read_text(lake.uri(layout.manifest(day))))
    # Drift fields included: a day's drift does not depend on the order days were published in.
    out["manifest"] = {
        k: v for k, v in manifest.items() if k not in ("run_id", "published_at", "data_docs", "run_summary")
    }
    # The partition's objects. Data Docs file names carry the run id and time: kept apart.
    objects = [
        o[len(lake.path(lake.uri())) + 1 :]
        for prefix in [layout.report(t, day) for t in TABLES]
        + [layout.quarantine(day), f"manifests/dt={day}", layout.report("data_docs", day)]
        for o in _all_objects(lake, prefix)
    ]
    out["objects"] = [o for o in objects if "/data_docs/" not in o]
    out["data_docs"] = [o for o in objects if "/data_docs/" in o]
    return out


def statsd_counts(lines: list[str], name: str) -> list[float]:
    """Values of every sample of metric `name` (`name:value|type[|@rate]`)."""
    return [float(x.split(":", 1)[1].split("|", 1)[0]) for x in lines if x.split(":", 1)[0] == name]


def check_metrics(d, lake, seeded: dict, model_dir) -> None:
    """Each stage's metrics reached the StatsD server the deployment is configured with."""

    def publish_metrics_of_four_runs():
        lines = d.statsd.lines()
        return lines if len(statsd_counts(lines, "airflow.nlp_tasks.run.rows_in")) >= 4 else None

    lines = d.wait_for("the publish metrics of four runs", publish_metrics_of_four_runs, timeout=30)
    reported = sum(seed["records"] - seed["expected_bad"] for seed in seeded.values())
    # Counters add up over the mapped tasks of all four runs: the rows each stage handled.
    assert sum(statsd_counts(lines, "airflow.nlp_tasks.ingest.rows")) == sum(s["records"] for s in seeded.values())
    assert sum(statsd_counts(lines, "airflow.nlp_tasks.score.rows")) == reported
    assert sum(statsd_counts(lines, "airflow.nlp_tasks.redact.rows")) == reported
    assert sum(statsd_counts(lines, "airflow.nlp_tasks.ingest.errors")) + sum(
        statsd_counts(lines, "airflow.nlp_tasks.validate.errors")
    ) == sum(s["expected_bad"] for s in seeded.values())
    pii = sum(
        sum(statsd_counts(lines, f"airflow.nlp_tasks.pii.{t}")) for t in ("email", "phone", "card", "ssn", "ip", "iban")
    )
    assert pii == sum(
        json.loads(lake.read_text(lake.uri(layout.manifest(day))))["pii_entities"][t]
        for day in seeded
        for t in ("EMAIL", "PHONE", "CARD", "SSN", "IP", "IBAN")
    )
    for stage in ("ingest", "validate", "redact", "score", "drift", "publish"):
        assert statsd_counts(lines, f"airflow.nlp_tasks.{stage}.seconds"), f"no timing for {stage}"
        assert all(v > 0 for v in statsd_counts(lines, f"airflow.nlp_tasks.{stage}.rows_per_second")), stage
    version = json.loads(lake.read_text(lake.uri(layout.manifest(TRIGGER_DAY))))["model_versions"][0]
    # The runtime the workers pick on this CPU (the same choice here: the workers run on this machine).
    provider = metric_segment(plan(model_dir, "auto")[0].provider)
    assert statsd_counts(lines, f"airflow.nlp_tasks.score.model.{version}.{provider}")
    costs = statsd_counts(lines, "airflow.nlp_tasks.run.cost_per_1000_reviews")
    assert len(costs) == 4 and all(c > 0 for c in costs)
    # Airflow's own metrics travel the same way (the scheduler's heartbeat, task outcomes).
    assert any(x.startswith("airflow.scheduler_heartbeat:") for x in lines)
    # And every nlp_tasks datagram maps to a labelled Prometheus series (deploy/statsd-mapping.yaml).
    assert {"nlp_tasks_rows_total", "nlp_tasks_scoring_tasks_total", "nlp_tasks_run_cost_per_1000_reviews"} <= set(
        check_datagrams(lines)
    )


def check_task_logs(d, runs: dict) -> None:
    """Every line the pipeline writes in a task log is JSON that names run, date and shard."""
    checked = 0
    for run_id, run in runs.items():
        day = run["logical_date"][:10]
        for path in sorted((d.home / "logs").glob(f"dag_id={DAG_ID}/run_id={run_id}/task_id=*/**/*.log")):
            task = path.parts[-3 if "map_index=" in path.parts[-2] else -2].split("=", 1)[1]
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                if not str(rec.get("logger", "")).startswith("nlp_tasks"):
                    continue
                assert rec.get("run_id") == run_id and rec.get("dt") == day, (path, line)
                assert rec.get("stage"), (path, line)
                if task in ("ingest", "redact", "score"):
                    assert rec.get("shard") and rec.get("map_index") is not None, (path, line)
                checked += 1
    assert checked > 40, checked


def _all_objects(lake, prefix: str) -> list[str]:
    from pyarrow.fs import FileSelector, FileType

    infos = lake.fs.get_file_info(FileSelector(lake.path(lake.uri(prefix)), recursive=True, allow_not_found=True))
    return sorted(i.path for i in infos if i.type == FileType.File)


def drift_xcom(d, run_id: str) -> dict:
    """The return value of a run's drift task: the drift as its run computed it, before publish."""
    entry = d.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/drift/xcomEntries/return_value")
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) else value


def remove_published(lake, day: str) -> None:
    """Everything a run publishes for a day (the raw input stays)."""
    for table in lake.list_dirs(lake.uri("reports")):
        lake.delete_prefix(f"{table}/dt={day}")
    lake.delete_prefix(lake.uri(layout.quarantine(day)))
    lake.delete_prefix(lake.uri(f"manifests/dt={day}"))


def check_publishes_never_overlap(d, runs: dict) -> None:
    """publish (which settles drift) runs one instance at a time across runs (max_active_tis_per_dag=1)."""
    spans = []
    for run_id in runs:
        (ti,) = [
            t
            for t in d.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
            if t["task_id"] == "publish"
        ]
        spans.append((dt.datetime.fromisoformat(ti["start_date"]), dt.datetime.fromisoformat(ti["end_date"])))
    spans.sort()
    for (_, end), (start, _) in pairwise(spans):
        assert end <= start, f"two publish tasks overlapped: {spans}"


def check_settled_drift(lake, days: list[str], model_dir) -> None:
    from nlp_tasks import drift as D

    for i, day in enumerate(days):
        rows = partitions.read(lake, lake.uri(layout.report("drift", day)))
        rolling = [r for r in rows.to_pylist() if r["reference"] == "rolling_7d"]
        assert {r["reference_days"] for r in rolling} == {",".join(days[:i])}, (day, rolling[0]["reference_days"])
        if i:  # something was really compared
            assert any(r["p_value"] is not None for r in rolling), day
        table, result = D.recompute(lake, day, tokenizer_for=lambda version: str(model_dir))
        assert table.equals(rows), f"{day}: the published drift is not what the final partitions give"
        manifest = json.loads(lake.read_text(lake.uri(layout.manifest(day))))
        assert manifest["reference_days"] == days[:i] and manifest["drift_verdict"] == result["verdict"]
        summary = partitions.read(lake, lake.uri(layout.report("summary", day)))
        assert set(summary.column("drift_verdict").to_pylist()) == {result["verdict"]}


def test_trigger_and_backfill_on_celery(celery_deployment, s3_lake, model_dir):
    d = celery_deployment
    t0 = time.time()
    days = [TRIGGER_DAY, *BACKFILL_DAYS]
    seeded = {day: write_day(s3_lake, day, n_reviews=N_REVIEWS) for day in days}
    conf = {"data_root": s3_lake.root, "max_invalid_fraction": 0.25}

    # The DAG is created paused (AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION), as in production.
    assert d.api("GET", f"/dags/{DAG_ID}")["is_paused"] is True
    d.cli("dags", "unpause", DAG_ID)
    assert d.api("GET", f"/dags/{DAG_ID}")["is_paused"] is False

    # 1. A manual run for one day, conf on the command line.
    d.cli("dags", "trigger", DAG_ID, "--logical-date", logical_date(TRIGGER_DAY), "-c", json.dumps(conf), "-o", "json")
    # 2. A backfill over the next three days (--to-date is inclusive of logical dates).
    backfill = ["backfill", "create", "--dag-id", DAG_ID, "--from-date", BACKFILL_DAYS[0]]
    backfill += [
        "--to-date",
        f"{BACKFILL_DAYS[-1]}T23:59:59+00:00",
        "--dag-run-conf",
        json.dumps(conf),
        "--max-active-runs",
        "3",
    ]
    d.cli(*backfill)

    runs = wait_for_runs(d, None)
    print(f"4 runs succeeded after {time.time() - t0:.0f}s")
    by_day = {r["logical_date"][:10]: r for r in runs.values()}
    assert sorted(by_day) == days, f"expected one run per day, got {sorted(by_day)}"
    assert by_day[TRIGGER_DAY]["run_type"] == "manual"
    assert {by_day[day]["run_type"] for day in BACKFILL_DAYS} == {"backfill"}
    for run in runs.values():
        assert run["conf"]["data_root"] == s3_lake.root

    # Scoring went to the inference queue and pool (served only by the second worker);
    # everything else to the default queue.
    for run_id in runs:
        tis = d.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
        # No challenger in this registry: shadow_score maps over no shards and is skipped.
        assert tis and all(
            t["state"] == "success" or (t["task_id"] == "shadow_score" and t["state"] == "skipped") for t in tis
        ), [(t["task_id"], t["state"]) for t in tis]
        for t in tis:
            if t["task_id"] in ("score", "shadow_score"):  # the challenger shares score's queue and pool
                assert (t["queue"], t["pool"]) == (d.queues["inference"], INFERENCE_POOL), t
            else:
                assert t["queue"] == d.queues["default"], t
    gpu_log = (d.home / "worker-gpu.log").read_text()
    default_log = (d.home / "worker-default.log").read_text()
    assert "task_id='score'" in gpu_log and "task_id='ingest'" not in gpu_log
    assert "task_id='ingest'" in default_log and "task_id='score'" not in default_log

    # 3. Every day's partitions exist and reconcile with what was seeded.
    for day, seed in seeded.items():
        for prefix in [layout.report(t, day) for t in (*TABLES, "run_summary")] + [layout.quarantine(day)]:
            assert s3_lake.exists(s3_lake.uri(prefix, "_SUCCESS")), f"{prefix} not published"
        manifest = json.loads(s3_lake.read_text(s3_lake.uri(layout.manifest(day))))
        assert manifest["run_id"] == by_day[day]["dag_run_id"]
        assert manifest["rows_in"] == seed["records"]
        assert manifest["rows_in"] == manifest["rows_reported"] + manifest["rows_quarantined"]
        assert manifest["rows_quarantined"] == seed["expected_bad"]
        for f in manifest["files"]:
            assert f["records"] == f["reported"] + f["quarantined"], f
        report = partitions.read(s3_lake, s3_lake.uri(layout.report("sentiment", day)))
        assert report.num_rows == seed["records"] - seed["expected_bad"]
        assert set(report.column("run_id").to_pylist()) == {by_day[day]["dag_run_id"]}
        summary = partitions.read(s3_lake, s3_lake.uri(layout.report("summary", day))).to_pylist()
        overall = [s for s in summary if s["scope"] == "overall"]
        assert len(overall) == 1 and overall[0]["rows_in"] == seed["records"]
        assert overall[0]["rows_reported"] + overall[0]["rows_quarantined"] == seed["records"]
        assert not _all_objects(s3_lake, f"_work/dt={day}") and not _all_objects(s3_lake, f"_staging/dt={day}")

    check_metrics(d, s3_lake, seeded, model_dir)
    check_task_logs(d, runs)

    # Every day's drift is against its whole window (all earlier days within 7 days), whatever
    # was published when its own drift task ran, and is what a recompute from the final
    # partitions gives.
    check_settled_drift(s3_lake, days, model_dir)
    check_publishes_never_overlap(d, runs)

    # 4. The same backfill again, in the other order: the backfill days' published history is
    # removed, then re-processed newest first, one run at a time, so each day's drift task sees
    # fewer earlier days than it did in the forward pass. Every partition (drift and summary
    # included) is replaced with exactly the same content, and nothing is added.
    wait_for_backfills(d, 1)
    before = {day: snapshot(s3_lake, day) for day in BACKFILL_DAYS}
    for day in BACKFILL_DAYS:
        remove_published(s3_lake, day)
    started = dt.datetime.now(dt.UTC)
    # --no-run-on-latest-version, as docs/deployment.md recommends for re-processing: Airflow 3.3.2
    # re-verifies a cleared run at once when moving it to the latest DAG version, and can mark
    # tasks mapped over another mapped task's output REMOVED (the DAG now avoids that shape).
    backwards = [*backfill[: backfill.index("--max-active-runs")], "--max-active-runs", "1"]
    d.cli(*backwards, "--run-backwards", "--reprocess-behavior", "completed", "--no-run-on-latest-version")
    rerun = wait_for_runs(d, {by_day[day]["dag_run_id"] for day in BACKFILL_DAYS})
    print(f"repeated backfill (backwards) succeeded after {time.time() - t0:.0f}s")
    for run_id, run in rerun.items():
        assert dt.datetime.fromisoformat(run["end_date"]) > started, f"{run_id} was not re-run"
        tis = d.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
        # shadow_score maps over no shards without a challenger: skipped, as on the first runs.
        assert {(t["task_id"], t["state"]) for t in tis if t["state"] != "success"} <= {("shadow_score", "skipped")}
        assert {t["task_id"] for t in tis} >= {"ingest", "validate", "redact", "score", "drift", "publish"}
    # It did run newest first, and the newest day's drift task saw only the trigger day.
    starts = {r["logical_date"][:10]: dt.datetime.fromisoformat(r["start_date"]) for r in rerun.values()}
    assert sorted(starts, key=starts.get) == BACKFILL_DAYS[::-1], starts
    in_run = drift_xcom(d, by_day[BACKFILL_DAYS[-1]]["dag_run_id"])
    assert in_run["reference_days"] == [TRIGGER_DAY], in_run
    for day in BACKFILL_DAYS:
        after = snapshot(s3_lake, day)
        for key in before[day]:
            if key == "data_docs":
                continue  # compared below
            if key in TABLES or key == "quarantine":
                assert after[key].equals(before[day][key]), f"{day}: {key} changed on the backwards re-run"
            else:
                assert after[key] == before[day][key], f"{day}: {key} changed on the backwards re-run"
        manifest = json.loads(s3_lake.read_text(s3_lake.uri(layout.manifest(day))))
        assert dt.datetime.fromisoformat(manifest["published_at"]) >= started.replace(microsecond=0)
        # The day's Data Docs were replaced by the re-run's, not added to.
        pages = [o for o in after["data_docs"] if "/validations/" in o]
        assert len(pages) == 1 and len(before[day]["data_docs"]) == len(after["data_docs"]), (
            before[day]["data_docs"],
            after["data_docs"],
        )
        assert pages[0] != [o for o in before[day]["data_docs"] if "/validations/" in o][0]
    check_settled_drift(s3_lake, days, model_dir)
    # No new runs: the same four, all successful.
    assert set(wait_for_runs(d, None)) == set(runs)
