"""Drift that does not depend on the order days are published (nlp_tasks.drift.settle).

Each "publish" here does what the nightly DAG's publish task does, in order: compute the
day's drift in-run (pipeline.drift: against whatever is published), commit the day's
sentiment, drift and summary partitions and manifest, then settle. Whatever the order of the
days, the final drift, summary verdicts and manifests are the same, and equal to recomputing
every day from the final partitions.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from nlp_tasks import drift as D
from nlp_tasks import layout, partitions, pipeline
from nlp_tasks.storage import Lake
from tests.helpers import report_table, summary_of

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05", "2026-11-09", "2026-11-10"]


def _reports() -> dict:
    rng = np.random.default_rng(11)
    # 11-03 has long texts: days whose window holds it see drift, the others do not.
    return {d: report_table(rng, 150, d, long=(d == "2026-11-03")).sort_by([("review_id", "ascending")]) for d in DAYS}


def _commit(lake, prefix: str, table) -> None:
    partitions.write(lake, lake.uri(prefix), table, "x")


def publish(lake, day: str, report, settle: bool = True) -> list[dict]:
    run = pipeline.Run(lake, day, f"run-{day}")
    uri = run.work("scored", "part-00000.parquet")
    lake.write_parquet(report.sort_by([("score", "descending")]), uri)  # shard order != report order
    res = pipeline.drift(run, [uri], threshold=0.1, alpha=0.05)
    summary = summary_of(run.run_id, report, report.num_rows, 0, res["verdict"])
    _commit(lake, layout.report("sentiment", day), report)
    _commit(lake, layout.report("drift", day), lake.read_parquet(res["uri"]))
    _commit(lake, layout.report("summary", day), summary)
    manifest = {
        "dt": day,
        "run_id": run.run_id,
        "drift_verdict": res["verdict"],
        "drifted_features": res["drifted"],
        "reference_days": res["reference_days"],
    }
    lake.write_text(lake.uri(layout.manifest(day)), json.dumps(manifest))
    return D.settle(lake, day) if settle else []


def state(lake) -> dict:
    out = {}
    for d in DAYS:
        out[d] = {
            "drift": lake.read_parquet(lake.uri(layout.report("drift", d), "part-00000.parquet")),
            "verdicts": set(
                lake.read_parquet(lake.uri(layout.report("summary", d), "part-00000.parquet"))
                .column("drift_verdict")
                .to_pylist()
            ),
            "manifest": json.loads(lake.read_text(lake.uri(layout.manifest(d)))),
        }
    return out


def run_in_order(tmp_path, name: str, order: list[str], reports: dict) -> dict:
    lake = Lake(str(tmp_path / name))
    for d in order:
        publish(lake, d, reports[d])
    return state(lake)


@pytest.fixture(scope="module")
def reports():
    return _reports()


@pytest.fixture
def quiet_html(monkeypatch):
    # The pages are tested elsewhere; here they would only cost time.
    from nlp_tasks import html_report

    monkeypatch.setattr(html_report, "write_day", lambda lake, day, run_id="": "")


def test_every_order_gives_the_same_drift(tmp_path, reports, quiet_html):
    forward = run_in_order(tmp_path, "forward", DAYS, reports)
    # Forward and one at a time, as the nightly schedule runs: each day sees its whole window.
    assert forward["2026-11-05"]["drift"].column("reference_days").to_pylist()[0] == "2026-11-01,2026-11-02,2026-11-03"
    assert forward["2026-11-10"]["drift"].column("reference_days").to_pylist()[0] == "2026-11-03,2026-11-05,2026-11-09"
    assert forward["2026-11-05"]["verdicts"] == {"drift"} and forward["2026-11-02"]["verdicts"] == {"ok"}
    orders = {
        "backward": DAYS[::-1],
        "shuffled": random.Random(3).sample(DAYS, len(DAYS)),
        "interleaved": DAYS[1::2] + DAYS[0::2],
    }
    for name, order in orders.items():
        got = run_in_order(tmp_path, name, order, reports)
        for d in DAYS:
            assert got[d]["drift"].equals(forward[d]["drift"]), (name, d)
            assert got[d]["verdicts"] == forward[d]["verdicts"], (name, d)
            for k in ("drift_verdict", "drifted_features", "reference_days"):
                assert got[d]["manifest"][k] == forward[d]["manifest"][k], (name, d, k)


def test_without_settling_the_order_shows(tmp_path, reports, quiet_html):
    """The problem settle solves: in-run drift alone depends on what was published first."""
    lake = Lake(str(tmp_path / "unsettled"))
    for d in DAYS[::-1]:
        publish(lake, d, reports[d], settle=False)
    assert (
        lake.read_parquet(lake.uri(layout.report("drift", "2026-11-05"), "part-00000.parquet"))
        .column("reference_days")[0]
        .as_py()
        == ""
    )


def test_settle_updates_later_days_and_equals_a_recompute(tmp_path, reports, quiet_html):
    lake = Lake(str(tmp_path / "lake"))
    publish(lake, "2026-11-05", reports["2026-11-05"])
    assert state_of(lake, "2026-11-05")["manifest"]["drift_verdict"] == "no_reference"
    settled = publish(lake, "2026-11-03", reports["2026-11-03"])
    assert [(s["dt"], s["changed"]) for s in settled] == [
        ("2026-11-03", False),
        ("2026-11-05", True),
    ]  # 11-03 saw its window in-run
    after = state_of(lake, "2026-11-05")
    assert after["manifest"]["reference_days"] == ["2026-11-03"] and after["manifest"]["drift_verdict"] == "drift"
    assert after["verdicts"] == {"drift"} and "text_length" in after["manifest"]["drifted_features"]
    # Settling again changes nothing, and the published rows are what a recompute gives.
    assert [s["changed"] for s in D.settle(lake, "2026-11-03")] == [False, False]
    for d in ("2026-11-03", "2026-11-05"):
        table, result = D.recompute(lake, d)
        assert table.equals(after["drift"] if d == "2026-11-05" else state_of(lake, d)["drift"])
        assert set(table.column("run_id").to_pylist()) == {f"run-{d}"}  # the day's own run, not the settling one


def test_the_in_run_drift_equals_the_settled_one_when_the_window_is_complete(tmp_path, reports, quiet_html, model_dir):
    """Nightly, in order: settling the day just published changes nothing (same rows, same order,
    same tokenizer), so a scheduled night writes its drift once."""
    lake = Lake(str(tmp_path / "lake"))
    for d in DAYS[:3]:
        run = pipeline.Run(lake, d, f"run-{d}")
        uri = run.work("scored", "part-00000.parquet")
        i = reports[d].column_names.index("model_version")
        report = reports[d].set_column(
            i, reports[d].schema.field(i), pa.array(["m1"] * reports[d].num_rows, reports[d].schema.field(i).type)
        )
        lake.write_parquet(report.sort_by([("score", "descending")]), uri)
        res = pipeline.drift(run, [uri], tokenizer=str(model_dir))
        _commit(lake, layout.report("sentiment", d), report)
        _commit(lake, layout.report("drift", d), lake.read_parquet(res["uri"]))
        settled = D.settle(lake, d, tokenizer_for=lambda v: str(model_dir))
        assert [(s["dt"], s["changed"]) for s in settled] == [(d, False)], d
        assert (
            settled[0]["result"]["verdict"] == res["verdict"]
            and settled[0]["result"]["reference_days"] == res["reference_days"]
        )


def test_a_baseline_comparison_is_kept_and_adjusted_with_the_new_window(tmp_path, reports, quiet_html):
    lake = Lake(str(tmp_path / "lake"))
    publish(lake, "2026-11-01", reports["2026-11-01"])
    D.set_baseline(lake, "2026-11-01")
    publish(lake, "2026-11-05", reports["2026-11-05"])
    before = state_of(lake, "2026-11-05")["drift"].to_pylist()
    publish(lake, "2026-11-03", reports["2026-11-03"])
    after = state_of(lake, "2026-11-05")["drift"].to_pylist()

    def base(rows):
        return [{k: r[k] for k in (*D.RAW_FIELDS, "reference_days")} for r in rows if r["reference"] == "baseline"]

    assert base(after) == base(before) and base(after)  # the day's own baseline statistics
    assert {r["reference_days"] for r in after if r["reference"] == "rolling_7d"} == {"2026-11-01,2026-11-03"}


def state_of(lake, day: str) -> dict:
    return {
        "drift": lake.read_parquet(lake.uri(layout.report("drift", day), "part-00000.parquet")),
        "verdicts": set(
            lake.read_parquet(lake.uri(layout.report("summary", day), "part-00000.parquet"))
            .column("drift_verdict")
            .to_pylist()
        )
        if lake.exists(lake.uri(layout.report("summary", day), "part-00000.parquet"))
        else set(),
        "manifest": json.loads(lake.read_text(lake.uri(layout.manifest(day))))
        if lake.exists(lake.uri(layout.manifest(day)))
        else {},
    }
