"""Champion and challenger through the real DAG (`airflow dags test`), on moto's S3 server,
with two real ONNX models: the bundled 3-class model and a small randomly initialised
DistilBERT imported from a Hugging Face checkpoint (binary, and much worse).

1. tiny DistilBERT in production, the bundled model as challenger, two nights: the reports are
   the champion's alone, the comparison table is the two models', and `promote --if-better`
   moves production to the challenger (after a --dry-run that moves nothing);
2. the roles reversed (the tiny model now challenger, half the reviews sampled), a rerun of
   day 2: the verdict is keep and production stays;
3. a challenger whose files are corrupt: the night is green, the comparison says missing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nlp_tasks import layout
from nlp_tasks import model_comparison as mc
from nlp_tasks.sample_data import write_day
from nlp_tasks.sentiment import registry
from tests.helpers import RAW_PII, read, run_dag

pytestmark = pytest.mark.e2e

DAY1, DAY2 = "2026-04-01", "2026-04-02"


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "nlp_tasks.sentiment", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture
def two_models(airflow_env, s3_lake, tiny_checkpoint, tmp_path):
    """The bundled model and the imported tiny one, both published to the S3 registry."""
    env = {
        **airflow_env,
        "AWS_ENDPOINT_URL": s3_lake.s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_lake.s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_lake.s3.secret_key,
        "AWS_DEFAULT_REGION": s3_lake.s3.region or "us-east-1",
        "NLP_TASKS_USER": "e2e",
    }
    registry.ensure_default(s3_lake)
    bundled = registry.aliases(s3_lake)[registry.PRODUCTION]
    ckpt, _ = tiny_checkpoint
    out = json.loads(
        cli(
            env, "import-hf", "--checkpoint", str(ckpt), "--out", str(tmp_path / "tiny"), "--data-root", s3_lake.root
        ).stdout
    )
    return env, bundled, out["version"]


def comparison(lake, day: str) -> dict:
    rows = read(lake, layout.report("model_comparison", day)).to_pylist()
    return {r["role"]: r for r in rows if r["scope"] == "overall"}


def test_shadow_nights_then_promote_keep_and_a_broken_challenger(airflow_env, s3_lake, two_models):
    env, bundled, tiny = two_models
    for d in (DAY1, DAY2):
        write_day(s3_lake, d, n_reviews=60)
    conf = {"data_root": s3_lake.root, "shard_rows": 25, "max_invalid_fraction": 0.25}

    # 1. The tiny model is production, the bundled one the challenger (the alias, the DAG's default).
    cli(env, "promote", "--data-root", s3_lake.root, "--version", tiny)
    cli(env, "promote", "--data-root", s3_lake.root, "--alias", "challenger", "--version", bundled)
    logs = {d: run_dag(airflow_env, d, conf) for d in (DAY1, DAY2)}
    for day in (DAY1, DAY2):
        report = read(s3_lake, layout.report("sentiment", day)).to_pylist()
        assert {r["model_version"] for r in report} == {tiny}  # the champion's rows alone
        assert all(r["p_neutral"] is None for r in report)  # ... a binary model's, not the challenger's
        summary = [s for s in read(s3_lake, layout.report("summary", day)).to_pylist() if s["scope"] == "overall"][0]
        assert summary["positive_share"] == pytest.approx(sum(r["label"] == "positive" for r in report) / len(report))
        c = comparison(s3_lake, day)
        assert c["champion"]["model_version"] == tiny and c["challenger"]["model_version"] == bundled
        assert c["champion"]["status"] == "ok" and c["champion"]["rows"] == len(report)  # shadow_fraction 1.0
        assert "binary model" in c["champion"]["compared_on"]
        flips = sum(c["champion"][f"flips_{a}_to_{b}"] for a, b in mc.FLIPS)
        assert flips + c["champion"]["agree"] == len(report)
        assert c["champion"]["rated_rows"] == sum(r["rating"] is not None for r in report)
        assert c["challenger"]["accuracy_binary"] > c["champion"]["accuracy_binary"]
        manifest = json.loads(s3_lake.read_text(s3_lake.uri(layout.manifest(day))))
        assert manifest["model_comparison"]["status"] == "ok" and manifest["model_comparison"]["challenger"] == bundled
        stages = {r["stage"]: r for r in read(s3_lake, layout.report("run_summary", day)).to_pylist()}
        assert (
            stages["shadow_score"]["tasks"] == stages["score"]["tasks"]
            and stages["shadow_score"]["model_version"] == bundled
        )
        page = s3_lake.read_text(manifest["html_report"])
        assert "Champion vs challenger" in page and bundled in page
        for raw in RAW_PII:
            assert raw not in page and raw not in logs[day]
        assert any("stage=shadow_score" in line and "shard=part-" in line for line in logs[day].splitlines())

    dry = cli(
        env, "promote", "--data-root", s3_lake.root, "--if-better", "--from", DAY1, "--to", DAY2, "--dry-run"
    ).stdout
    assert "verdict: promote" in dry and f"would move production {tiny} -> {bundled}" in dry
    assert registry.aliases(s3_lake)[registry.PRODUCTION] == tiny
    cli(env, "promote", "--data-root", s3_lake.root, "--if-better", "--from", DAY1, "--to", DAY2)
    assert registry.aliases(s3_lake) == {registry.PRODUCTION: bundled}
    move = registry.history(s3_lake)[-2]  # production moved, then the challenger alias cleared
    assert (move["alias"], move["from"], move["to"], move["action"], move["by"]) == (
        "production",
        tiny,
        bundled,
        "if-better",
        "e2e",
    )
    assert move["evidence"]["verdict"] == "promote" and move["evidence"]["days"] == [DAY1, DAY2]

    # 2. Roles reversed, half the reviews shadow-scored: the rerun replaces day 2's comparison.
    cli(env, "promote", "--data-root", s3_lake.root, "--alias", "challenger", "--version", tiny)
    run_dag(airflow_env, DAY2, {**conf, "shadow_fraction": 0.5})
    report = read(s3_lake, layout.report("sentiment", DAY2)).to_pylist()
    assert {r["model_version"] for r in report} == {bundled}
    c = comparison(s3_lake, DAY2)
    assert c["champion"]["model_version"] == bundled and c["challenger"]["model_version"] == tiny
    sampled = int(mc.sample_mask([r["review_id"] for r in report], 0.5).sum())
    assert c["champion"]["rows"] == sampled and 0 < sampled < len(report) and c["champion"]["shadow_fraction"] == 0.5
    keep = cli(env, "promote", "--data-root", s3_lake.root, "--if-better", "--from", DAY2, "--to", DAY2).stdout
    assert "verdict: keep" in keep and registry.aliases(s3_lake)[registry.PRODUCTION] == bundled

    # 3. A challenger whose published files are corrupt: the night stays green, the comparison says so.
    base = s3_lake.uri(layout.models("sentiment"))
    meta = json.loads(s3_lake.read_text(f"{base}/{tiny}/metadata.json"))
    for f in meta["files"]:
        s3_lake.write_bytes(f"{base}/broken-1/{f}", b"not a model")
    s3_lake.write_text(f"{base}/broken-1/metadata.json", json.dumps({**meta, "version": "broken-1"}))
    cli(env, "promote", "--data-root", s3_lake.root, "--alias", "challenger", "--version", "broken-1")
    run_dag(airflow_env, DAY1, conf)  # asserts the run succeeded
    report = read(s3_lake, layout.report("sentiment", DAY1)).to_pylist()
    assert {r["model_version"] for r in report} == {bundled}
    c = comparison(s3_lake, DAY1)
    assert c["challenger"]["model_version"] == "broken-1" and c["champion"]["status"].startswith("missing")
    assert c["champion"]["rows"] == 0
    manifest = json.loads(s3_lake.read_text(s3_lake.uri(layout.manifest(DAY1))))
    assert manifest["model_comparison"]["status"].startswith("missing")
