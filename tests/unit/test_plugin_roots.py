"""The UI plugin reads report pages only under allowed data roots (nlp_tasks.roots)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp_tasks.roots import ENV

DAY = "2026-11-17"


def _page(root: Path, text: str) -> None:
    page = root / "reports" / "html" / f"dt={DAY}" / "report.html"
    page.parent.mkdir(parents=True)
    page.write_text(f"<!doctype html><p>{text}</p>")


@pytest.fixture
def client(plugin, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    default, extra, outside = tmp_path / "lake", tmp_path / "extra", tmp_path / "outside"
    for root in (default, extra, outside):
        _page(root, root.name)
    (default / "escape").symlink_to(outside)
    monkeypatch.setenv("NLP_TASKS_DATA_ROOT", f"file://{default}")
    monkeypatch.setenv(ENV, f"file://{extra}")
    conf_root = {}
    monkeypatch.setattr(plugin, "run_day", lambda dag_id, run_id: (DAY, conf_root.get(run_id)))
    plugin.app.dependency_overrides[plugin.can_read_run] = lambda: None
    plugin.app.dependency_overrides[plugin.can_read_nightly] = lambda: None
    return TestClient(plugin.app), conf_root, tmp_path


def test_run_pages_under_allowed_roots_only(client):
    c, conf_root, tmp = client
    conf_root.update(
        {
            "default": None,
            "extra": f"file://{tmp}/extra/",
            "outside": f"file://{tmp}/outside",
            "dotdot": f"file://{tmp}/lake/../outside",
            "symlink": f"file://{tmp}/lake/escape",
            "prefix": f"file://{tmp}/extra-evil",
            "bucket": "s3://other-bucket/lake",
        }
    )
    url = "/run/review_sentiment_nightly/{}"
    assert c.get(url.format("default")).text.endswith("<p>lake</p>")
    assert c.get(url.format("extra")).text.endswith("<p>extra</p>")
    for run_id in ("outside", "dotdot", "symlink", "prefix", "bucket"):
        r = c.get(url.format(run_id))
        assert r.status_code == 403, (run_id, r.status_code, r.text)
        detail = r.json()["detail"]
        assert conf_root[run_id] in detail and ENV in detail, detail
        assert "outside</p>" not in r.text
    # The day and index pages use the default root, which is always allowed.
    assert c.get(f"/day/{DAY}").text.endswith("<p>lake</p>")
    assert DAY in c.get("/").text


def test_a_default_root_outside_nothing_else_is_still_served(plugin, tmp_path, monkeypatch):
    """Without NLP_TASKS_ALLOWED_ROOTS the default root alone is allowed."""
    monkeypatch.delenv(ENV, raising=False)
    _page(tmp_path / "lake", "lake")
    monkeypatch.setenv("NLP_TASKS_DATA_ROOT", str(tmp_path / "lake"))
    assert plugin.read_page(DAY).endswith("<p>lake</p>")
    assert plugin.read_page(DAY, f"file://{tmp_path}/lake/").endswith("<p>lake</p>")
    from fastapi import HTTPException

    with pytest.raises(HTTPException) as e:
        plugin.read_page(DAY, f"file://{tmp_path}")
    assert e.value.status_code == 403
