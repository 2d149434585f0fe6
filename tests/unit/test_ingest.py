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
