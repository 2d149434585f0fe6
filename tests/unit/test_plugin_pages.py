"""What a person sees of the UI plugin: the list page, the bar on report pages, HTML error
pages for a browser (JSON for API clients), the tab answering 404 for other DAGs, and the
redirect of /nlp-reports to /nlp-reports/."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from nlp_tasks import html_report
from tests.helpers import publish_day

BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def client(plugin, local_lake, monkeypatch):
    from fastapi.testclient import TestClient

    rng = np.random.default_rng(3)
    days = ["2026-11-01", "2026-11-02", "2026-11-03"]
    for d in days:
        publish_day(local_lake, d, rng)
        html_report.write_day(local_lake, d, f"run-{d}")
    monkeypatch.setenv("NLP_TASKS_DATA_ROOT", local_lake.root)
    monkeypatch.setattr(plugin, "run_day", lambda dag_id, run_id: (run_id[4:], None))
    plugin.app.dependency_overrides[plugin.can_read_run] = lambda: None
    plugin.app.dependency_overrides[plugin.can_read_nightly] = lambda: None
    # Mounted as the API server mounts it, so links are built from the real root_path.
    return TestClient(plugin.app, root_path="/nlp-reports"), days


def test_list_page_shows_each_day_with_its_numbers_and_verdict(client):
    c, days = client
    page = c.get("/").text
    assert "<style>" in page and "file://" not in page  # styled; no storage path
    for d in days:
        assert f'href="day/{d}"' in page
    # Newest first, with the day's rows and the verdict in words.
    assert page.index(days[-1]) < page.index(days[0])
    assert "no reference yet" in page and "no_reference" not in page
    assert ">310<" in page  # rows in (publish_day: 300 reported + 10 quarantined)


def test_report_pages_link_the_list_neighbours_and_the_run(client):
    c, days = client
    page = c.get(f"/day/{days[1]}").text
    assert '<a href="/nlp-reports/">← All review reports</a>' in page
    assert f'href="/nlp-reports/day/{days[0]}"' in page and f'href="/nlp-reports/day/{days[2]}"' in page
    assert f'target="_top" href="/dags/review_sentiment_nightly/runs/run-{days[1]}"' in page
    first = c.get(f"/day/{days[0]}").text
    assert 'rel="prev"' not in first and 'rel="next"' in first
    run = c.get(f"/run/review_sentiment_nightly/run-{days[2]}").text
    assert "Review sentiment — " + days[2] in run and 'rel="prev"' in run


def test_errors_are_pages_for_a_browser_and_json_for_api_clients(client):
    c, _ = client
    r = c.get("/day/2026-01-01", headers=BROWSER)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert (
        "<h1>404 · Not found</h1>" in r.text
        and "no HTML report for 2026-01-01" in r.text
        and "{" not in r.text.split("<body>")[1].split("<h1>")[0]
    )
    r = c.get("/day/2026-13-45", headers=BROWSER)
    assert r.status_code == 400 and "<h1>400" in r.text
    assert c.get("/day/2026-01-01").json() == {"detail": "no HTML report for 2026-01-01"}


def test_the_run_tab_answers_404_for_other_dags(client):
    c, _ = client
    r = c.get("/run/other_dag/r1", headers=BROWSER)
    assert r.status_code == 404 and "review_sentiment_nightly only" in r.text and "<h1>404" in r.text


def test_unauthenticated_gets_401_as_a_page(plugin, monkeypatch):
    from fastapi.testclient import TestClient

    plugin.app.dependency_overrides.clear()
    r = TestClient(plugin.app, root_path="/nlp-reports").get("/", headers=BROWSER)
    assert r.status_code == 401 and "Log in to" in r.text


def test_slash_redirect(plugin):
    sent = []

    async def inner(scope, receive, send):
        sent.append(("inner", scope["path"]))

    async def send(message):
        sent.append(message)

    mw = plugin._SlashRedirect(inner)
    asyncio.run(
        mw({"type": "http", "path": "/nlp-reports", "root_path": "", "query_string": b"a=1", "headers": []}, None, send)
    )
    start = next(m for m in sent if isinstance(m, dict) and m["type"] == "http.response.start")
    assert start["status"] == 307 and (b"location", b"/nlp-reports/?a=1") in start["headers"]
    sent.clear()
    asyncio.run(
        mw({"type": "http", "path": "/nlp-reports/", "root_path": "", "query_string": b"", "headers": []}, None, send)
    )
    assert sent == [("inner", "/nlp-reports/")]
    assert plugin.NlpReportsPlugin.fastapi_root_middlewares[0]["middleware"] is plugin._SlashRedirect
