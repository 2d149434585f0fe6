"""Messy production input, fed through the real DAG (airflow dags test, moto S3 over HTTP).

One day holds every kind of bad input next to good rows; each gets its own specific reason,
the good rows are reported, and the counts reconcile per file. A day with no input at all
succeeds with an empty report.
"""

from __future__ import annotations

import io
import json

import pytest

from nlp_tasks import layout
from tests.helpers import read, run_dag

pytestmark = pytest.mark.e2e

DAY = "2026-04-01"
EMPTY_DAY = "2026-04-02"
BIG_ROWS = 200_000


def pdf_bytes(text: str | None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    if text:
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text)
    else:
        pdf.rect(10, 10, 120, 80, style="F")
    return bytes(pdf.output())


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter()
    for p in PdfReader(io.BytesIO(pdf_bytes("confidential complaint"))).pages:
        w.add_page(p)
    w.encrypt("secret")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def seed_bad_day(lake) -> dict[str, int]:
    """Write the day's raw objects; returns records per file name as the pipeline must count them."""
    reviews, pdfs = lake.uri(layout.raw_reviews(DAY)), lake.uri(layout.raw_pdfs(DAY))
    j = lambda **kw: json.dumps(kw)  # noqa: E731
    mixed = [
        j(review_id="m1", text="Great kettle, boils fast.", rating=5, product_id="K1"),
        '{"review_id": "m2", "text": "broken json',
        j(review_id="m3", text="Lid is flimsy.", rating="five"),
        j(review_id="m4", text="Works, email me at joe.bloggs@example.com", rating=4.5),
        j(review_id="m5", text="Nice.", created_at="the day after tomorrow-ish"),
        j(review_id="m1", text="Same id again in this file."),
        j(review_id="m6", text=12345),
        j(review_id="m7", text="Fine product.", rating=3, colour="blue", nested={"a": 1}),
    ]
    raw = ("\n".join(mixed) + "\n").encode() + b'{"review_id": "m8", "text": "bad \xff\xfe bytes"}\n'
    lake.write_bytes(f"{reviews}/mixed.jsonl", raw)
    lake.write_text(
        f"{reviews}/retry-export.jsonl", j(review_id="m7", text="Duplicate of a review in mixed.jsonl") + "\n"
    )
    lake.write_text(
        f"{reviews}/columns.csv",
        'review_id,text,rating\nc1,Good value,4\nc2,Too,many,columns,here\nc3\nc4,"Quoted, fine",2\n',
    )
    lake.write_text(f"{reviews}/no-text-column.csv", "review_id,rating\nn1,5\nn2,1\n")
    lake.write_bytes(f"{reviews}/latin1.csv", "review_id,text\nl1,Très bien\n".encode("latin-1"))
    lake.write_text(f"{reviews}/huge.jsonl", j(review_id="h1", text="word " * 1_000_000) + "\n")
    lake.write_bytes(f"{reviews}/empty.jsonl", b"")
    lake.write_text(f"{reviews}/notes.txt", "not a review file")
    templates = ["Love it", "Hate it", "It is fine", "Works as described", "Stopped working"]
    big = "\n".join(j(review_id=f"b{i}", text=templates[i % 5], rating=1 + i % 5) for i in range(BIG_ROWS)) + "\n"
    lake.write_text(f"{reviews}/big.jsonl", big)
    lake.write_bytes(f"{pdfs}/good.pdf", pdf_bytes("The toaster is excellent, I recommend it."))
    lake.write_bytes(f"{pdfs}/corrupt.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    lake.write_bytes(f"{pdfs}/encrypted.pdf", encrypted_pdf())
    lake.write_bytes(f"{pdfs}/scanned.pdf", pdf_bytes(None))
    return {
        "mixed.jsonl": 9,
        "retry-export.jsonl": 1,
        "columns.csv": 4,
        "no-text-column.csv": 2,
        "latin1.csv": 1,
        "huge.jsonl": 1,
        "empty.jsonl": 1,
        "notes.txt": 1,
        "big.jsonl": BIG_ROWS,
        "good.pdf": 1,
        "corrupt.pdf": 1,
        "encrypted.pdf": 1,
        "scanned.pdf": 1,
    }


def test_every_bad_input_is_quarantined_with_a_reason_and_the_rest_goes_on(airflow_env, s3_lake):
    expected_records = seed_bad_day(s3_lake)
    out = run_dag(airflow_env, DAY, {"data_root": s3_lake.root, "shard_rows": 50_000})
    assert "joe.bloggs@example.com" not in out

    manifest = json.loads(s3_lake.read_text(s3_lake.uri(layout.manifest(DAY))))
    per_file = {f["file"].rsplit("/", 1)[-1]: f for f in manifest["files"]}
    assert {k: v["records"] for k, v in per_file.items()} == expected_records
    for f in per_file.values():
        assert f["records"] == f["reported"] + f["quarantined"]

    q = read(s3_lake, layout.quarantine(DAY)).to_pylist()
    why: dict[tuple[str, int], str] = {(r["source_file"].rsplit("/", 1)[-1], r["source_row"]): r["reason"] for r in q}
    assert "malformed JSON" in why[("mixed.jsonl", 2)]
    assert why[("mixed.jsonl", 3)] == "rating not an integer in 1..5"
    assert why[("mixed.jsonl", 4)] == "rating not an integer in 1..5"
    assert why[("mixed.jsonl", 5)] == "created_at not a parseable date"
    assert why[("mixed.jsonl", 6)] == "duplicate review_id"
    assert "not valid UTF-8" in why[("mixed.jsonl", 9)]
    assert why[("retry-export.jsonl", 1)] == "duplicate review_id"
    assert "expected 3 columns" in why[("columns.csv", 3)] and "expected 3 columns" in why[("columns.csv", 4)]
    assert why[("no-text-column.csv", 2)] == "missing text" and why[("no-text-column.csv", 3)] == "missing text"
    assert "not valid UTF-8" in why[("latin1.csv", 2)]
    assert why[("huge.jsonl", 1)].startswith("text longer than")
    assert "empty file" in why[("empty.jsonl", 0)]
    assert "unsupported file type .txt" in why[("notes.txt", 0)]
    assert "corrupt PDF" in why[("corrupt.pdf", 0)] or "unreadable" in why[("corrupt.pdf", 0)]
    assert "encrypted PDF" in why[("encrypted.pdf", 0)]
    assert "no text layer" in why[("scanned.pdf", 0)]
    # The quarantine never carries raw PII (m4 was rejected for its rating; its text is redacted).
    assert "joe.bloggs@example.com" not in json.dumps(q)

    report = read(s3_lake, layout.report("sentiment", DAY))
    ids = set(report.column("review_id").to_pylist())
    assert {"m1", "m6", "m7", "c1", "c4", "pdf-good"} <= ids
    assert "m3" not in ids and "h1" not in ids
    assert report.num_rows == BIG_ROWS + 6
    m6 = [r for r in report.to_pylist() if r["review_id"] == "m6"][0]
    assert m6["text_redacted"] == "12345"  # wrong JSON type, kept as its string form
    big = [r for r in report.to_pylist() if r["review_id"] in ("b0", "b1")]
    assert {r["review_id"]: r["label"] for r in big} == {"b0": "positive", "b1": "negative"}


def test_a_day_with_no_input_succeeds_with_an_empty_report(airflow_env, s3_lake):
    out = run_dag(airflow_env, EMPTY_DAY, {"data_root": s3_lake.root})
    assert "discovered 0 raw objects" in out
    report = read(s3_lake, layout.report("sentiment", EMPTY_DAY))
    assert report.num_rows == 0 and "label" in report.column_names
    manifest = json.loads(s3_lake.read_text(s3_lake.uri(layout.manifest(EMPTY_DAY))))
    assert manifest["rows_in"] == 0 and manifest["status"] == "published"
    assert s3_lake.exists(s3_lake.uri(layout.report("sentiment", EMPTY_DAY), "_SUCCESS"))
