"""The daily HTML report (real matplotlib PNGs, real files) and the Airflow UI plugin."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from pathlib import Path

import numpy as np
import pytest

from nlp_tasks import html_report
from tests.helpers import SECRET, publish_day

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def lake_with_days(local_lake):
    rng = np.random.default_rng(5)
    start = dt.date(2026, 11, 1)
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range(10)]
    for i, d in enumerate(days):
        publish_day(local_lake, d, rng, long=(i == 9))
    return local_lake, days


def _pngs(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_write_day_is_self_contained_with_real_pngs(lake_with_days):
    lake, days = lake_with_days
    day = days[-1]
    uri = html_report.write_day(lake, day, "run-x")
    assert uri == lake.uri(f"reports/html/dt={day}/report.html")
    page = lake.read_text(uri)
    pngs = _pngs(page)
    assert len(pngs) == 4  # label mix, score distribution, drift per feature, top products
    import matplotlib.image as mpimg

    for png in pngs:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        img = mpimg.imread(io.BytesIO(png), format="png")
        assert img.shape[0] > 100 and img.shape[1] > 100
    assert "<script" not in page and "http://" not in page and "https://" not in page  # no external assets
    assert SECRET not in page  # aggregates only, never review text
    assert "text_length" in page and "rolling_7d" in page and "drift" in page
    assert "Review sentiment — " + day in page and "run-x" in page


def test_first_day_renders_without_references(local_lake):
    publish_day(local_lake, "2026-11-01", np.random.default_rng(6))
    page = local_lake.read_text(html_report.write_day(local_lake, "2026-11-01"))
    assert len(_pngs(page)) == 3 and "per-feature drift: no data yet" in page  # no reference -> no drift chart


def test_top_products_ignores_tiny_products():
    rows = [
        {"scope": "overall", "product_id": None, "rows_reported": 100, "negative_share": 0.2},
        {"scope": "product", "product_id": "a", "rows_reported": 50, "negative_share": 0.5},
        {"scope": "product", "product_id": "b", "rows_reported": 2, "negative_share": 1.0},
        {"scope": "product", "product_id": "<c>", "rows_reported": 40, "negative_share": 0.7},
    ]
    assert [r["product_id"] for r in html_report.top_products(rows)] == ["<c>", "a"]
    page = html_report.render(
        {"day": "2026-11-01", "history": [], "summary": rows, "drift": [], "scores": {}, "manifest": None}
    )
    assert "<c>" not in page  # product ids are drawn inside the PNG, never pasted into the HTML unescaped


# -- the Airflow plugin ---------------------------------------------------------------------
def test_plugin_serves_the_report(plugin, lake_with_days, monkeypatch):
    from airflow.plugins_manager import AirflowPlugin
    from fastapi.testclient import TestClient

    lake, days = lake_with_days
    html_report.write_day(lake, days[-1], "run-x")
    monkeypatch.setenv("NLP_TASKS_DATA_ROOT", lake.root)
    app = plugin.app
    # Airflow's auth is tested by Airflow; here: the routes behind it.
    app.dependency_overrides[plugin.can_read_run] = lambda: None
    app.dependency_overrides[plugin.can_read_nightly] = lambda: None
    monkeypatch.setattr(plugin, "run_day", lambda dag_id, run_id: (days[-1], None))
    client = TestClient(app)
    r = client.get(f"/day/{days[-1]}")
    assert r.status_code == 200 and len(_pngs(r.text)) == 4
    assert client.get("/run/review_sentiment_nightly/manual__2026").text == r.text
    assert days[-1] in client.get("/").text
    assert client.get("/day/2026-01-01").status_code == 404
    assert client.get("/day/..%2F..%2Fetc").status_code in (400, 404)
    assert client.get("/day/2026-13-45").status_code == 400
    assert "only" in client.get("/run/other_dag/r1").text

    assert issubclass(plugin.NlpReportsPlugin, AirflowPlugin)
    views = plugin.NlpReportsPlugin.external_views
    assert any(v["destination"] == "dag_run" and "{RUN_ID}" in v["href"] for v in views)
    assert plugin.NlpReportsPlugin.fastapi_apps[0]["url_prefix"] == "/nlp-reports"


def test_extra_link_on_publish_only(plugin):
    from airflow.models.taskinstancekey import TaskInstanceKey

    link = plugin.ReviewReportLink()
    key = TaskInstanceKey("review_sentiment_nightly", "publish", "scheduled__2026-11-17T01:30:00+00:00", 1, -1)
    # The run's "Review report" tab inside Airflow, not the bare plugin page.
    assert link.get_link(None, ti_key=key).endswith(
        "/dags/review_sentiment_nightly/runs/scheduled__2026-11-17T01%3A30%3A00%2B00%3A00/plugin/review-report"
    )
    assert link.get_link(None, ti_key=key._replace(task_id="score")) == ""


def test_airflow_loads_the_plugin(tmp_path):
    """The plugins folder as Airflow loads it (a fresh interpreter: plugin loading is cached)."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json\n"
        "from airflow import plugins_manager as pm\n"
        "plugins = [p for p in pm.get_plugin_info() if p['name'] == 'nlp_reports']\n"
        "links = [type(link).__name__ for link in pm.get_global_operator_extra_links()]\n"
        "print(json.dumps({'n': len(plugins), 'links': links}))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["n"] == 1 and "ReviewReportLink" in got["links"]


def test_comparison_section_only_when_a_challenger_ran():
    from nlp_tasks import model_comparison as mc
    from nlp_tasks.html_report import comparison_section

    assert comparison_section([]) == ""
    rows = mc.build_table(
        None, {"champion": "champ-1", "challenger": "chal-<2>"}, None, "missing: ValueError", 1.0, "r"
    ).to_pylist()
    page = comparison_section(rows)
    assert "Champion vs challenger" in page and "missing: ValueError" in page
    assert "chal-&lt;2&gt;" in page and "chal-<2>" not in page  # escaped like everything else on the page
