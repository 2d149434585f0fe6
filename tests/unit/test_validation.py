"""The Great Expectations suite finds the bad rows and says why; good rows come out typed."""

from __future__ import annotations

import pyarrow as pa

from nlp_tasks.schema import INGESTED, VALIDATED
from nlp_tasks.validation import MAX_TEXT_CHARS, validate


def rows(*recs):
    base = {
        "title": None,
        "product_id": "P1",
        "rating": "5",
        "created_at": "2026-01-01T10:00:00Z",
        "source_kind": "review",
    }
    return pa.Table.from_pylist([{**base, **r} for r in recs], schema=INGESTED)


def test_suite_rejects_each_kind_of_bad_row_with_its_reason():
    t = rows(
        {"review_id": "ok1", "text": "fine", "source_file": "a.jsonl", "source_row": 1},
        {"review_id": None, "text": "no id", "source_file": "a.jsonl", "source_row": 2},
        {"review_id": "e", "text": "   ", "source_file": "a.jsonl", "source_row": 3},
        {"review_id": "r", "text": "bad stars", "rating": "7", "source_file": "a.jsonl", "source_row": 4},
        {"review_id": "d", "text": "bad date", "created_at": "not a date", "source_file": "a.jsonl", "source_row": 5},
        {"review_id": "ok1", "text": "dup in another file", "source_file": "b.csv", "source_row": 2},
        {"review_id": "long", "text": "x" * (MAX_TEXT_CHARS + 1), "source_file": "a.jsonl", "source_row": 6},
        {
            "review_id": "ok2",
            "text": "four point oh",
            "rating": "4.0",
            "created_at": None,
            "source_file": "a.jsonl",
            "source_row": 7,
        },
        {"review_id": "ok3", "text": "no rating", "rating": None, "source_file": "a.jsonl", "source_row": 8},
        {
            "review_id": "fut",
            "text": "from the future",
            "created_at": "2026-01-05T00:00:00Z",
            "source_file": "a.jsonl",
            "source_row": 9,
        },
        {
            "review_id": "late",
            "text": "a day late is fine",
            "created_at": "2026-01-02T23:00:00+00:00",
            "source_file": "a.jsonl",
            "source_row": 10,
        },
    )
    res = validate(t, day="2026-01-01")
    assert res.valid.schema == VALIDATED
    assert res.valid.column("review_id").to_pylist() == ["ok1", "ok2", "ok3", "late"]
    assert res.valid.column("rating").to_pylist() == [5, 4, None, 5]
    why = {(r["source_file"], r["source_row"]): r["reason"] for r in res.rejects}
    assert why[("a.jsonl", 2)] == "missing review_id"
    assert why[("a.jsonl", 3)] == "empty text"
    assert why[("a.jsonl", 4)] == "rating not an integer in 1..5"
    assert why[("a.jsonl", 5)] == "created_at not a parseable date"
    assert why[("b.csv", 2)] == "duplicate review_id"  # the first seen (a.jsonl:1) is kept
    assert why[("a.jsonl", 6)].startswith("text longer than")
    assert why[("a.jsonl", 9)] == "created_at in the future"
    assert len(res.rejects) + res.valid.num_rows == t.num_rows
    failing = {e["column"] for e in res.expectations if not e["success"]}
    assert {"review_id", "text", "rating", "created_at"} <= failing


def test_a_bad_row_that_repeats_an_id_gets_both_reasons_the_duplicate_first():
    """GX reports review_id's results first: the order nlp_tasks.validate_day gives too."""
    t = rows(
        {"review_id": "a", "text": "fine", "source_file": "a.jsonl", "source_row": 1},
        {"review_id": "a", "text": " ", "rating": "9", "source_file": "a.jsonl", "source_row": 2},
        {"review_id": "b", "text": "bad stars first", "rating": "0", "source_file": "a.jsonl", "source_row": 3},
        {"review_id": "b", "text": "a valid twin of a rejected row", "source_file": "b.csv", "source_row": 1},
    )
    res = validate(t, day="2026-01-01")
    why = {(r["source_file"], r["source_row"]): r["reason"] for r in res.rejects}
    assert why[("a.jsonl", 2)] == "duplicate review_id; empty text; rating not an integer in 1..5"
    # A rejected row still counts as the first seen: its later twin is the duplicate.
    assert why[("a.jsonl", 3)] == "rating not an integer in 1..5" and why[("b.csv", 1)] == "duplicate review_id"
    assert res.valid.column("review_id").to_pylist() == ["a"]


def test_empty_day_validates_to_nothing():
    res = validate(INGESTED.empty_table())
    assert res.valid.num_rows == 0 and res.rejects == []


def test_data_docs_are_rendered_without_raw_text(tmp_path):
    secret = "jane.roe@example.com"
    t = rows(
        {"review_id": "a", "text": f"mail {secret}", "rating": "9", "source_file": "a.jsonl", "source_row": 1},
        {"review_id": "a", "text": f"again {secret}", "source_file": "a.jsonl", "source_row": 2},
        {"review_id": "b", "text": " ", "source_file": "a.jsonl", "source_row": 3},
    )
    res = validate(t, docs_dir=str(tmp_path), run_name="manual__t")
    assert [r["source_row"] for r in res.rejects] == [1, 2, 3]
    assert res.rejects[0]["text"] == f"mail {secret}"  # kept in memory for redaction, not in docs
    pages = list(tmp_path.rglob("*.html"))
    assert (tmp_path / "index.html").exists() and any("validations" in str(p) for p in pages)
    for page in pages:
        assert secret not in page.read_text(errors="ignore")


def test_text_of_only_whitespace_or_zero_width_characters_is_empty():
    t = rows(
        {"review_id": "zw", "text": "\u200b\u200c\u200d\u2060\ufeff", "source_file": "z.jsonl", "source_row": 1},
        {"review_id": "mix", "text": " \u200b\t\u00a0\u2003\n", "source_file": "z.jsonl", "source_row": 2},
        {"review_id": "ok", "text": "fine\u200b", "source_file": "z.jsonl", "source_row": 3},
        {"review_id": "emoji", "text": "\U0001f44d", "source_file": "z.jsonl", "source_row": 4},
    )
    res = validate(t, day="2026-01-01")
    assert res.valid.column("review_id").to_pylist() == ["ok", "emoji"]
    assert {r["review_id"]: r["reason"] for r in res.rejects} == {"zw": "empty text", "mix": "empty text"}
