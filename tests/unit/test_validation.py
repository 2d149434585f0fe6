"""The Great Expectations suite finds the bad rows and says why; good rows come out typed."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

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


GOOD = {"review_id": "ok1", "text": "fine", "source_file": "a.jsonl", "source_row": 1}

# One case per rule: the bad row, the reason it is quarantined with, and the column whose
# expectation fails. Each row sits beside GOOD, which must come out valid.
RULES = {
    "missing id": ({"review_id": None, "text": "no id"}, "missing review_id", "review_id"),
    "duplicate id": ({"review_id": "ok1", "text": "dup", "source_file": "b.csv"}, "duplicate review_id", "review_id"),
    "missing text": ({"review_id": "t", "text": None}, "missing text", "text"),
    "empty text": ({"review_id": "e", "text": "   "}, "empty text", "text"),
    "text too long": (
        {"review_id": "long", "text": "x" * (MAX_TEXT_CHARS + 1)},
        f"text longer than {MAX_TEXT_CHARS} characters",
        "text",
    ),
    "rating out of range": (
        {"review_id": "r", "text": "bad stars", "rating": "7"},
        "rating not an integer in 1..5",
        "rating",
    ),
    "rating not a number": (
        {"review_id": "r", "text": "bad stars", "rating": "five"},
        "rating not an integer in 1..5",
        "rating",
    ),
    "unparseable date": (
        {"review_id": "d", "text": "bad date", "created_at": "not a date"},
        "created_at not a parseable date",
        "created_at",
    ),
    "date in the future": (
        {"review_id": "f", "text": "future", "created_at": "2026-01-05T00:00:00Z"},
        "created_at in the future",
        "created_at",
    ),
}


@pytest.mark.parametrize("bad, reason, column", RULES.values(), ids=RULES.keys())
def test_each_rule_quarantines_its_row_with_its_reason(bad, reason, column):
    t = rows(GOOD, {"source_file": "a.jsonl", "source_row": 2, **bad})
    res = validate(t, day="2026-01-01")
    assert res.valid.schema == VALIDATED and res.valid.column("review_id").to_pylist() == ["ok1"]
    (reject,) = res.rejects
    # The duplicate is the later row; the first seen (a.jsonl:1) is kept.
    assert (reject["source_file"], reject["source_row"]) == (bad.get("source_file", "a.jsonl"), 2)
    assert reject["reason"] == reason
    assert {e["column"] for e in res.expectations if not e["success"]} == {column}


# Rows near a rule's edge that pass, and what they become.
ACCEPTED = {
    "rating 4.0": ({"rating": "4.0", "created_at": None}, "rating", 4),
    "no rating": ({"rating": None}, "rating", None),
    "a day late": (
        {"created_at": "2026-01-02T23:00:00+00:00"},
        "created_at",
        dt.datetime(2026, 1, 2, 23, tzinfo=dt.UTC),
    ),
}


@pytest.mark.parametrize("fields, column, value", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_rows_at_a_rules_edge_pass_typed(fields, column, value):
    t = rows({"review_id": "x", "text": "fine", "source_file": "a.jsonl", "source_row": 1, **fields})
    res = validate(t, day="2026-01-01")
    assert res.rejects == [] and res.valid.column(column).to_pylist() == [value]


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
