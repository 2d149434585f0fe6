"""Every DAG in dags/ imports cleanly, without heavy libraries, and has the expected shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))
HEAVY = [
    "pandas",
    "pyarrow",
    "numpy",
    "onnxruntime",
    "torch",
    "transformers",
    "great_expectations",
    "scipy",
    "tokenizers",
    "pypdf",
    "phonenumbers",
    "sklearn",
]
# The package's own modules a DAG file may import at parse: the Airflow glue and the allow-list,
# which import only the standard library and Airflow (checked here, in a fresh interpreter).
PARSE_TIME_MODULES = {
    "nlp_tasks",
    "nlp_tasks.roots",
    "nlp_tasks.airflow",
    "nlp_tasks.airflow.assets",
    "nlp_tasks.airflow.notifier",
    "nlp_tasks.airflow.stage",
}


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("af")))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "review_sentiment_nightly" in dagbag.dags


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_import_no_heavy_libraries(path, tmp_path):
    # A fresh interpreter, so nothing imported by other tests hides a heavy import.
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('dagfile', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "ours = sorted(m for m in sys.modules if m == 'nlp_tasks' or m.startswith('nlp_tasks.'))\n"
        "print(json.dumps({'heavy': heavy, 'ours': ours}))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["heavy"] == []
    assert set(loaded["ours"]) <= PARSE_TIME_MODULES, set(loaded["ours"]) - PARSE_TIME_MODULES


def test_nightly_dag_shape(dagbag):
    dag = dagbag.dags["review_sentiment_nightly"]
    assert set(dag.task_ids) == {
        "check_params",
        "check_data_root",
        "discover",
        "resolve_model",
        "ingest",
        "validate_plan",
        "validate_batch",
        "validate",
        "shards_of",
        "redact",
        "redacted_shards",
        "score",
        "resolve_challenger",
        "shadow_shards",
        "shadow_score",
        "compare_models",
        "drift",
        "publish",
    }
    for name in ("data_root", "aws_conn_id", "model_version", "shard_rows", "provider"):
        assert name in dag.params
    assert dag.params["aws_conn_id"] == "aws_default" and dag.params["model_version"] == "production"
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    mapped = {t for t in dag.task_ids if isinstance(dag.get_task(t), MappedOperator)}
    assert mapped == {"ingest", "validate_batch", "redact", "score", "shadow_score"}
    # The reducer runs on a day without input too (its batches skipped): the empty report.
    assert dag.get_task("validate").trigger_rule == "none_failed"
    assert dag.get_task("validate").upstream_task_ids == {"ingest", "validate_batch"}
    assert not dag.catchup
    # The Params check, then the allow-list check come first, before anything reads or writes,
    # and are never retried.
    check = dag.get_task("check_data_root")
    assert check.upstream_task_ids == {"check_params"} and check.retries == 0
    assert check.downstream_task_ids == {"discover", "resolve_model"}
    assert dag.get_task("check_params").retries == 0
    roots = [t for t in dag.task_ids if not dag.get_task(t).upstream_task_ids]
    assert roots == ["check_params"]
    # Publishes (which settle drift) never overlap, across all runs: drift independent of order.
    assert dag.get_task("publish").max_active_tis_per_dag == 1
    assert dag.default_args["retries"] >= 1
    # The challenger: the alias by default, on the same inference queue and pool as score.
    assert dag.params["challenger_version"] == "challenger" and dag.params["shadow_fraction"] == 1.0
    for t in ("score", "shadow_score"):
        assert (
            dag.get_task(t).queue == dag.get_task("score").queue and dag.get_task(t).pool == dag.get_task("score").pool
        )
    # Shadow scoring and the comparison are off the champion's path: drift never sees them.
    assert "shadow_score" not in dag.get_task("drift").upstream_task_ids
    assert dag.get_task("compare_models").trigger_rule == "all_done"


def test_mapped_parallelism_is_set_by_the_deployment(tmp_path):
    """10 GB a night needs more than 4 score tasks of a run at once: the environment the DAG is
    parsed in sets the per-run caps (defaults 8 and 4)."""
    path = next(p for p in DAG_FILES if p.name == "review_sentiment_nightly.py")
    code = (
        "import importlib.util, json\n"
        f"spec = importlib.util.spec_from_file_location('dagfile', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "dag = mod.review_sentiment_nightly()\n"
        "tasks = ('ingest', 'validate_batch', 'redact', 'score', 'shadow_score')\n"
        "print(json.dumps({t: dag.get_task(t).max_active_tis_per_dagrun for t in tasks}))\n"
    )

    def caps(**env):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "AIRFLOW_HOME": str(tmp_path), **env},
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert caps() == {"ingest": 8, "validate_batch": 8, "redact": 8, "score": 4, "shadow_score": 4}
    assert caps(NLP_TASKS_MAPPED_PARALLELISM="32", NLP_TASKS_INFERENCE_PARALLELISM="24") == {
        "ingest": 32,
        "validate_batch": 32,
        "redact": 32,
        "score": 24,
        "shadow_score": 24,
    }
