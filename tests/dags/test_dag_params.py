"""The nightly DAG's trigger form: titles and sections, dates and e-mails checked as such,
enums that the form cannot empty, and the neutral band checked before anything runs."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "review_sentiment_nightly.py"
SECTIONS = ["Data and storage", "Model", "Validation", "Drift and alerts", "Cost"]


@pytest.fixture(scope="module")
def dag_module(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("af")))
    spec = importlib.util.spec_from_file_location("review_sentiment_nightly_params", DAG_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def params(dag_module):
    from airflow.sdk.definitions.dag import DAG

    (dag,) = [v for v in vars(dag_module).values() if isinstance(v, DAG)] or [dag_module.review_sentiment_nightly()]
    return dag.params


def _schema(params, name):
    return params.get_param(name).schema


def test_every_param_has_a_title_and_a_section_in_order(params):
    seen = []
    for name in params:
        schema = _schema(params, name)
        assert schema.get("title") and "_" not in schema["title"], name
        assert schema.get("section") in SECTIONS, name
        assert params.get_param(name).description, name
        if schema["section"] not in seen:
            seen.append(schema["section"])
    # The form shows sections in the order of their first Param.
    assert seen == SECTIONS


def test_dates_and_emails_are_checked(params):
    from airflow.sdk.definitions.param import ParamValidationError

    for name in ("run_date", "baseline_date"):
        p = params.get_param(name)
        assert p.schema["format"] == "date"
        assert p.resolve("2026-11-17") == "2026-11-17" and p.resolve(None) is None
        with pytest.raises(ParamValidationError):
            p.resolve("not-a-date")
    p = params.get_param("drift_alert_email")
    for ok in (None, "ops@example.com", "a@b.io, c.d+x@e.co.uk"):
        assert p.resolve(ok) == ok
    for bad in ("x", "ops@", "a@b.io,,c@d.io", "a b@c.io", "a@b"):
        with pytest.raises(ParamValidationError):
            p.resolve(bad)


def test_enums_are_typed_so_the_form_refuses_an_emptied_dropdown(params):
    """The UI marks a field required (and disables Trigger) only when its schema has a type
    without null; an enum without a type could be emptied and then rejected by the server."""
    from airflow.sdk.definitions.param import ParamValidationError

    for name in ("provider", "drift_alert"):
        schema = _schema(params, name)
        assert schema["type"] == "string" and schema["enum"], name
        assert set(schema["values_display"]) == set(schema["enum"]), name
        with pytest.raises(ParamValidationError):
            params.get_param(name).resolve(None)


def test_neutral_band_must_be_a_band(dag_module):
    assert dag_module.params_problems({"neutral_low": 0.4, "neutral_high": 0.6}) == []
    for low, high in ((0.6, 0.4), (0.5, 0.5)):
        (msg,) = dag_module.params_problems({"neutral_low": low, "neutral_high": high})
        assert f"neutral_low ({low:g}) must be below neutral_high ({high:g})" in msg


def test_check_params_runs_first_and_fails_without_retries(tmp_path):
    """The real task, through `airflow tasks test`: an inverted band fails at once, saying why."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NLP_TASKS_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "NLP_TASKS_DATA_ROOT": f"file://{tmp_path}/lake",
        }
    )
    bin_ = Path(sys.executable).parent / "airflow"
    subprocess.run([str(bin_), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    t0 = time.time()
    out = subprocess.run(
        [
            str(bin_),
            "tasks",
            "test",
            "review_sentiment_nightly",
            "check_params",
            "2026-11-17",
            "-t",
            '{"neutral_low": 0.7, "neutral_high": 0.3}',
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = out.stdout + out.stderr
    # `tasks test` exits 0 whatever the task did: its log says how it ended.
    assert "neutral_low (0.7) must be below neutral_high (0.3)" in text, text[-3000:]
    assert "AirflowFailException" in text and re.search(r"new_state=failed", text), text[-3000:]
    assert time.time() - t0 < 120
