"""Ingest: every record a raw file yields is either a canonical row or a quarantine reason."""
from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nlp_tasks.ingest import ingest_bytes


def make_pdf(text: str | None, title: str = "Letter") -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.add_page()
    if text:
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text)
    else:
        pdf.rect(20, 20, 100, 60, style="F")  # a drawing, no text layer: what a scan looks like
    return bytes(pdf.output())


def test_jsonl_good_and_bad_lines_are_all_accounted_for():
    lines = [
        json.dumps({"review_id": "a", "text": "Great", "rating": 5, "product_id": "P1", "extra_field": [1, 2]}),
        '{"review_id": "b", "text": "trunc',
        "[1, 2]",
        "",
        json.dumps({"id": "c", "body": "Aliased fields", "stars": "4"}),
    ]
    data = ("\n".join(lines) + "\n").encode() + b'{"review_id": "d", "text": "caf\xe9"}\n'
    r = ingest_bytes("s3://b/raw/reviews/dt=2026-01-01/x.jsonl", data)
    assert [row["review_id"] for row in r.rows] == ["a", "c"]
    assert r.rows[0]["rating"] == "5" and r.rows[0]["source_row"] == 1
    assert r.rows[1]["text"] == "Aliased fields" and r.rows[1]["rating"] == "4"
    reasons = {q["source_row"]: q["reason"] for q in r.rejects}
    assert "malformed JSON" in reasons[2]
    assert "expected a JSON object" in reasons[3]
    assert "not valid UTF-8" in reasons[6]
    assert r.records == 5
    assert r.table().num_rows == 2


def test_csv_wrong_column_counts_and_empty_optionals():
    data = b"review_id,text,rating,title\nr1,Nice one,,\nr2,Too,many,cols,here\nr3,Short\nr4,\"Quoted, with comma\",3,T\n"
    r = ingest_bytes("f.csv", data)
    assert [row["review_id"] for row in r.rows] == ["r1", "r4"]
    assert r.rows[0]["rating"] is None and r.rows[0]["title"] is None
    assert r.rows[1]["text"] == "Quoted, with comma"
    assert sorted(q["source_row"] for q in r.rejects) == [3, 4]
    assert all("expected 4 columns" in q["reason"] for q in r.rejects)


def test_parquet_with_numeric_rating_and_unknown_columns():
    buf = io.BytesIO()
    pq.write_table(pa.table({"review_id": ["p1"], "text": ["ok"], "rating": [4.0], "channel": ["x"]}), buf)
    r = ingest_bytes("f.parquet", buf.getvalue())
    assert r.rows[0]["rating"] == "4" and r.rows[0]["source_row"] == 1
    assert not r.rejects


def test_pdf_is_one_document():
    r = ingest_bytes("s3://b/raw/pdfs/dt=2026-01-01/letter-7.pdf", make_pdf("The blender broke. " * 50, "My complaint"))
    assert len(r.rows) == 1 and not r.rejects
    row = r.rows[0]
    assert row["review_id"] == "pdf-letter-7" and row["source_kind"] == "pdf"
    assert "The blender broke." in row["text"] and row["title"] == "My complaint"


def test_pdf_failures_get_specific_reasons():
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf("secret"))).pages:
        writer.add_page(page)
    writer.encrypt("pw")
    enc = io.BytesIO()
    writer.write(enc)
    cases = {
        "enc.pdf": (enc.getvalue(), "encrypted PDF"),
        "scan.pdf": (make_pdf(None), "no text layer"),
        "bad.pdf": (b"%PDF-1.4\n garbage that is not a pdf", "PDF"),
        "empty.pdf": (b"", "empty file"),
    }
    for name, (data, reason) in cases.items():
        r = ingest_bytes(name, data)
        assert not r.rows and len(r.rejects) == 1, name
        assert reason in r.rejects[0]["reason"], (name, r.rejects[0]["reason"])


def test_unsupported_extension_and_empty_files():
    assert "unsupported file type .xlsx" in ingest_bytes("a.xlsx", b"PK..").rejects[0]["reason"]
    assert "empty file" in ingest_bytes("a.jsonl", b"").rejects[0]["reason"]
    assert "no records" in ingest_bytes("a.jsonl", b"\n\n").rejects[0]["reason"]


@pytest.mark.parametrize("name", ["x.jsonl", "x.csv"])
def test_reasons_never_quote_content(name):
    secret = "john.doe@example.com"
    data = (f'{{"review_id": "a", "text": "{secret}' if name.endswith("jsonl") else f"review_id,text\na,{secret},extra\n").encode()
    r = ingest_bytes(name, data)
    assert r.rejects and all(secret not in q["reason"] for q in r.rejects)


# The readers convert whole columns at a time; these pin the per-record rules they must keep.


def test_alias_precedence_and_value_conversion_in_jsonl():
    lines = [
        {"ID": "first", "review_id": "second", "Body ": "", "text": "ignored", "stars": 4.0, "title": "  ", "sku": {"a": "é"}},
        {"review_id": "r2", "text": "   ", "rating": 4.5, "title": ["x", 1], "created_at": None, "product": True},
        {"text": "no id", "score": 10**20 * 1.0, "headline": 0},
    ]
    data = "\n".join(json.dumps(x) for x in lines).encode()
    r = ingest_bytes("x.jsonl", data)
    fields = ["review_id", "text", "title", "product_id", "rating", "created_at"]
    assert [[row[f] for f in fields] for row in r.rows] == [
        ["first", "", None, '{"a": "é"}', "4", None],
        ["r2", "   ", '["x", 1]', "True", "4.5", None],
        [None, "no id", "0", None, "100000000000000000000", None],
    ]
    assert [row["source_row"] for row in r.rows] == [1, 2, 3]


def test_jsonl_errors_match_json_loads_messages():
    lines = [b' {"text": "leading space is fine"}', b'{"text": "a"} trailing', b'\xef\xbb\xbf{"text": "bom"}', b'{"text": "a"}{}', b"   "]
    r = ingest_bytes("x.jsonl", b"\r\n".join(lines))
    assert [row["text"] for row in r.rows] == ["leading space is fine"]
    assert {q["source_row"]: q["reason"] for q in r.rejects} == {
        2: "line 2: malformed JSON (Extra data at column 15)",
        3: "line 3: malformed JSON (Unexpected UTF-8 BOM (decode using utf-8-sig) at column 1)",
        4: "line 4: malformed JSON (Extra data at column 14)",
    }


def test_rows_keep_line_order_when_key_sets_change():
    lines = [{"review_id": "a", "text": "1"}, {"id": "b", "body": "2"}, {"id": "c", "body": "3"}, {"text": "4", "review_id": "d"}]
    r = ingest_bytes("x.jsonl", "\n".join(json.dumps(x) for x in lines).encode())
    assert [(row["review_id"], row["text"], row["source_row"]) for row in r.rows] == [("a", "1", 1), ("b", "2", 2), ("c", "3", 3), ("d", "4", 4)]


def test_csv_invalid_utf8_rows_and_repeated_headers():
    data = b"id,Text,text,text,stars\nr1,a,b,c, \nr2,caf\xe9,b,c,5\n\n , ,,,\nr3,x,y,z,4\n"
    r = ingest_bytes("f.csv", data)
    # "text" repeated: the dict keeps the last value; "Text" comes first so it wins the alias.
    assert [(row["review_id"], row["text"], row["rating"], row["source_row"]) for row in r.rows] == [("r1", "a", None, 2), ("r3", "x", "4", 6)]
    assert [(q["source_row"], q["reason"]) for q in r.rejects] == [(3, "line 3: not valid UTF-8")]


def test_parquet_columns_convert_like_python_values():
    import datetime as dt

    table = pa.table(
        {
            "id": pa.array([1, None, -3], pa.int64()),
            "text": ["a", "", None],
            "stars": [4.0, 4.5, None],
            "title": [" ", "T", None],
            "created_at": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), None, None]),
            "sku": pa.array([{"k": "v"}, None, {"k": None}]),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = ingest_bytes("f.parquet", buf.getvalue())
    fields = ["review_id", "text", "title", "product_id", "rating", "created_at"]
    assert [[row[f] for f in fields] for row in r.rows] == [
        ["1", "a", None, '{"k": "v"}', "4", "2026-01-02 03:04:05+00:00"],
        [None, "", "T", None, "4.5", None],
        ["-3", None, None, '{"k": null}', None, None],
    ]
    assert [row["source_row"] for row in r.rows] == [1, 2, 3]


def test_parquet_without_known_columns_still_yields_its_rows():
    buf = io.BytesIO()
    pq.write_table(pa.table({"channel": ["x", "y"]}), buf)
    r = ingest_bytes("f.parquet", buf.getvalue())
    assert [row["review_id"] for row in r.rows] == [None, None] and not r.rejects


def test_rows_and_table_follow_the_ingested_schema():
    from nlp_tasks.schema import INGESTED

    data = b"review_id,text\nr1,hello\nr2,\n"
    r = ingest_bytes("f.csv", data)
    assert all(list(row) == INGESTED.names for row in r.rows)
    t = r.table()
    assert t.schema == INGESTED and t.to_pylist() == r.rows
    assert ingest_bytes("f.csv", b"review_id,text\n").table().schema == INGESTED
