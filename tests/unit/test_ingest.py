"""Ingest: every record a raw file yields is either a canonical row or a quarantine reason."""

from __future__ import annotations

import gzip as _gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nlp_tasks import ingest as ingest_mod
from nlp_tasks.ingest import file_format, ingest_bytes


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
    data = b'review_id,text,rating,title\nr1,Nice one,,\nr2,Too,many,cols,here\nr3,Short\nr4,"Quoted, with comma",3,T\n'
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
    data = (
        f'{{"review_id": "a", "text": "{secret}' if name.endswith("jsonl") else f"review_id,text\na,{secret},extra\n"
    ).encode()
    r = ingest_bytes(name, data)
    assert r.rejects and all(secret not in q["reason"] for q in r.rejects)


# The readers convert whole columns at a time; these pin the per-record rules they must keep.


def test_alias_precedence_and_value_conversion_in_jsonl():
    lines = [
        {
            "ID": "first",
            "review_id": "second",
            "Body ": "",
            "text": "ignored",
            "stars": 4.0,
            "title": "  ",
            "sku": {"a": "é"},
        },
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
    lines = [
        b' {"text": "leading space is fine"}',
        b'{"text": "a"} trailing',
        b'\xef\xbb\xbf{"text": "bom"}',
        b'{"text": "a"}{}',
        b"   ",
    ]
    r = ingest_bytes("x.jsonl", b"\r\n".join(lines))
    assert [row["text"] for row in r.rows] == ["leading space is fine"]
    assert {q["source_row"]: q["reason"] for q in r.rejects} == {
        2: "line 2: malformed JSON (Extra data at column 15)",
        3: "line 3: malformed JSON (Unexpected UTF-8 BOM (decode using utf-8-sig) at column 1)",
        4: "line 4: malformed JSON (Extra data at column 14)",
    }


def test_rows_keep_line_order_when_key_sets_change():
    lines = [
        {"review_id": "a", "text": "1"},
        {"id": "b", "body": "2"},
        {"id": "c", "body": "3"},
        {"text": "4", "review_id": "d"},
    ]
    r = ingest_bytes("x.jsonl", "\n".join(json.dumps(x) for x in lines).encode())
    assert [(row["review_id"], row["text"], row["source_row"]) for row in r.rows] == [
        ("a", "1", 1),
        ("b", "2", 2),
        ("c", "3", 3),
        ("d", "4", 4),
    ]


def test_csv_invalid_utf8_rows_and_repeated_headers():
    data = b"id,Text,text,text,stars\nr1,a,b,c, \nr2,caf\xe9,b,c,5\n\n , ,,,\nr3,x,y,z,4\n"
    r = ingest_bytes("f.csv", data)
    # "text" repeated: the dict keeps the last value; "Text" comes first so it wins the alias.
    assert [(row["review_id"], row["text"], row["rating"], row["source_row"]) for row in r.rows] == [
        ("r1", "a", None, 2),
        ("r3", "x", "4", 6),
    ]
    assert [(q["source_row"], q["reason"]) for q in r.rejects] == [(3, "line 3: not valid UTF-8")]


def test_parquet_columns_convert_like_python_values():
    import datetime as dt

    table = pa.table(
        {
            "id": pa.array([1, None, -3], pa.int64()),
            "text": ["a", "", None],
            "stars": [4.0, 4.5, None],
            "title": [" ", "T", None],
            "created_at": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), None, None]),
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


# -- hostile input (issue 18): every record-level fault is one quarantined record ---------------


def _reasons(result) -> dict[int, str]:
    return {r["source_row"]: r["reason"] for r in result.rejects}


def test_jsonl_record_faults_are_record_level():
    deep = "[" * 100_000 + "]" * 100_000
    lines = [
        json.dumps({"review_id": "ok1", "text": "fine"}),
        '{"review_id": "sur", "text": "broken emoji \\ud83d here"}',
        '{"review_id": "pair", "text": "whole emoji \\ud83d\\ude00 here"}',
        '{"review_id": "deep", "text": "x", "nested": ' + deep + "}",
        "[1, 2]",
        '"str"',
        "42",
        "null",
        '{"review_id": "bad", "text": "invalid escape \\x41"}',
        json.dumps({"review_id": "ok2", "text": "also fine"}),
    ]
    r = ingest_bytes("day.jsonl", ("\n".join(lines) + "\n").encode())
    assert r.records == 10
    assert [row["review_id"] for row in r.rows] == ["ok1", "pair", "ok2"]
    assert r.rows[1]["text"] == "whole emoji \U0001f600 here"
    why = _reasons(r)
    assert why[2].startswith("line 2: lone surrogate escape")
    assert why[4] == "line 4: JSON nested too deeply"
    assert why[5] == "line 5: expected a JSON object, got array"
    assert why[6] == "line 6: expected a JSON object, got string"
    assert why[7] == "line 7: expected a JSON object, got number"
    assert why[8] == "line 8: expected a JSON object, got null"
    assert why[9].startswith("line 9: malformed JSON (Invalid \\escape")
    r.table()  # the rows it kept encode to Arrow (a lone surrogate would raise here)


def test_control_characters_are_stripped_not_quarantined():
    line = json.dumps(
        {"review_id": "c\u00001", "text": "nul\u0000 bell\u0007 del\u007f c1\u0085 tab\t kept", "title": "t\u001bitle"}
    )
    table = ingest_bytes("c.jsonl", line.encode() + b"\n").table()
    row = table.to_pylist()[0]
    assert row["review_id"] == "c1"
    assert row["text"] == "nul bell del c1 tab\t kept"
    assert row["title"] == "title"


def test_an_over_long_line_is_skipped_without_being_held(monkeypatch):
    monkeypatch.setattr(ingest_mod, "MAX_RECORD_BYTES", 1000)
    monkeypatch.setattr(ingest_mod, "CHUNK_BYTES", 64)
    lines = [
        json.dumps({"review_id": "a", "text": "short"}),
        json.dumps({"review_id": "b", "text": "y" * 5000}),
        json.dumps({"review_id": "c", "text": "short too"}),
    ]
    r = ingest_bytes("long.jsonl", ("\n".join(lines) + "\n").encode())
    assert [row["review_id"] for row in r.rows] == ["a", "c"]
    assert [row["source_row"] for row in r.rows] == [1, 3]
    assert "line 2: longer than" in _reasons(r)[2]


def _zst(data: bytes) -> bytes:
    return pa.compress(data, codec="zstd", asbytes=True)


@pytest.mark.parametrize(
    "name, pack",
    [
        ("export.jsonl.gz", _gzip.compress),
        ("export.ndjson", bytes),
        ("export.JSONL.ZST", _zst),
        ("export.ndjson.gz", _gzip.compress),
    ],
)
def test_compressed_and_ndjson_jsonl(name, pack):
    lines = [json.dumps({"review_id": f"r{i}", "text": f"review {i}"}) for i in range(5)] + ["not json"]
    r = ingest_bytes(name, pack(("\n".join(lines) + "\n").encode()))
    assert [row["review_id"] for row in r.rows] == [f"r{i}" for i in range(5)]
    assert _reasons(r)[6].startswith("line 6: malformed JSON")


@pytest.mark.parametrize("name, pack", [("export.csv.gz", _gzip.compress), ("export.csv.zst", _zst)])
def test_compressed_csv(name, pack):
    r = ingest_bytes(name, pack(b"review_id,text\nc1,Good\nc2,Bad,extra\n"))
    assert [row["review_id"] for row in r.rows] == ["c1"]
    assert "expected 2 columns" in _reasons(r)[3]


def test_a_file_that_is_not_what_its_name_says_is_quarantined_whole():
    good = ("\n".join(json.dumps({"review_id": f"r{i}", "text": "x " * 50}) for i in range(2000)) + "\n").encode()
    cases = {
        "plain.jsonl.gz": (good, "not gzip data although named .gz"),
        "plain.jsonl.zst": (good, "not zstd data although named .zst"),
        "cut.jsonl.gz": (_gzip.compress(good)[:3000], "truncated or corrupt gzip stream"),
        "cut.csv.zst": (_zst(b"review_id,text\n" + good)[:3000], "truncated or corrupt zstd stream"),
        "nothing.jsonl.gz": (_gzip.compress(b""), "empty file (no data after decompression)"),
        "data.parquet.gz": (b"x", "unsupported file type .parquet (gzip)"),
    }
    for name, (data, reason) in cases.items():
        r = ingest_bytes(name, data)
        assert not r.rows and [q["reason"] for q in r.rejects] == [reason], name
        assert r.rejects[0]["source_row"] == 0


def test_json_array_is_streamed_element_by_element(monkeypatch):
    monkeypatch.setattr(ingest_mod, "CHUNK_BYTES", 7)  # elements and strings cut across chunks
    body = (
        '\ufeff [ {"review_id": "a1", "text": "brackets ] and , in [ a string \\" {"},\n'
        ' {"review_id": "a2", "text": oops},\n'
        " [1, 2],\n"
        ' {"review_id": "a3", "text": "nested", "meta": {"k": [1, {"x": "}"}]}},\n'
        ' {"review_id": "a4", "text": "sur \\udc00"},\n'
        ' {"review_id": "a5", "text": "last"}\n]\n'
    )
    r = ingest_bytes("dump.json", body.encode())
    assert [row["review_id"] for row in r.rows] == ["a1", "a3", "a5"]
    assert r.rows[0]["text"] == 'brackets ] and , in [ a string " {'
    assert [row["source_row"] for row in r.rows] == [1, 4, 6]
    why = _reasons(r)
    assert why[2].startswith("element 2: malformed JSON")
    assert why[3] == "element 3: expected a JSON object, got array"
    assert why[5].startswith("element 5: lone surrogate escape")
    assert r.records == 6


def test_json_array_faults():
    deep = "[" * 50_000 + "]" * 50_000
    r = ingest_bytes(
        "deep.json", f'[{{"review_id": "d1", "text": "ok"}}, {deep}, {{"review_id": "d2", "text": "ok"}}]'.encode()
    )
    assert [row["review_id"] for row in r.rows] == ["d1", "d2"]
    assert _reasons(r) == {2: "element 2: JSON nested too deeply"}
    r = ingest_bytes("cut.json", b'[{"review_id": "t1", "text": "ok"}, {"review_id": "t2", "te')
    assert [row["review_id"] for row in r.rows] == ["t1"]
    assert _reasons(r) == {2: "element 2: JSON array not closed (truncated file?)"}
    r = ingest_bytes("extra.json", b'[{"review_id": "e1", "text": "ok"}] {"review_id": "e2"}')
    assert [row["review_id"] for row in r.rows] == ["e1"]
    assert _reasons(r) == {2: "element 2: data after the end of the JSON array"}
    r = ingest_bytes("empty-array.json", b"[]")
    assert [q["reason"] for q in r.rejects] == ["file holds no records"]
    r = ingest_bytes("lines.json", b'{"review_id": "l1", "text": "one"}\n{"review_id": "l2", "text": "two"}\n')
    assert [row["review_id"] for row in r.rows] == ["l1", "l2"]


def test_csv_field_over_the_csv_module_limit_is_one_bad_row():
    big = "z" * 200_000
    r = ingest_bytes("big.csv", f"review_id,text\nb1,fine\nb2,{big}\nb3,also fine\n".encode())
    assert [row["review_id"] for row in r.rows] == ["b1", "b3"]
    assert "line 3: malformed CSV (field larger than field limit" in _reasons(r)[3]


def test_parquet_wrong_types_become_strings_for_validation():
    table = pa.table({"review_id": pa.array([1, 2, 3]), "text": ["a", "b", "c"], "rating": ["5", "five", None]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = ingest_bytes("typed.parquet", buf.getvalue())
    assert [(row["review_id"], row["rating"]) for row in r.rows] == [("1", "5"), ("2", "five"), ("3", None)]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("s3://b/raw/reviews/dt=2026-01-01/my export #1 100%.jsonl.gz", (".jsonl", "gzip")),
        ("s3://b/raw/reviews/dt=2026-01-01/avis clients é.CSV", (".csv", None)),
        ("file:///x/dump.json", (".json", None)),
        ("file:///x/a.tar.gz", (".tar", "gzip")),
        ("file:///x/README", ("", None)),
    ],
)
def test_file_format_from_awkward_names(name, expected):
    assert file_format(name) == expected


def test_json_array_over_long_element_is_skipped(monkeypatch):
    monkeypatch.setattr(ingest_mod, "MAX_RECORD_BYTES", 200)
    monkeypatch.setattr(ingest_mod, "CHUNK_BYTES", 16)
    words = ", ".join(f'"w{i}"' for i in range(200))
    big = f'{{"review_id": "big", "text": "x", "words": [{words}]}}'
    body = f'[{{"review_id": "k1", "text": "ok"}}, {big}, {{"review_id": "k2", "text": "ok"}}]'
    r = ingest_bytes("long.json", body.encode())
    assert [row["review_id"] for row in r.rows] == ["k1", "k2"]
    assert [row["source_row"] for row in r.rows] == [1, 3]
    assert _reasons(r)[2].startswith("element 2: longer than")


class _FailingStream(io.RawIOBase):
    """Serves ``data`` and then fails the way a dropped S3 connection does after retries."""

    def __init__(self, data: bytes, fail_after: int, error: Exception):
        self._buf, self._fail_after, self._error = io.BytesIO(data), fail_after, error

    def readable(self):
        return True

    def seekable(self):
        return True

    def read(self, size=-1):
        if self._buf.tell() >= self._fail_after:
            raise self._error
        return self._buf.read(
            min(size if size is not None and size >= 0 else 1 << 30, self._fail_after - self._buf.tell()) or 1
        )

    def readinto(self, b):
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def seek(self, offset, whence=0):
        return self._buf.seek(offset, whence)

    def tell(self):
        return self._buf.tell()


@pytest.mark.parametrize("name", ["n.jsonl", "n.jsonl.gz", "n.csv.zst", "n.json"])
def test_a_network_fault_mid_object_fails_the_task_instead_of_blaming_the_file(name):
    from nlp_tasks.ingest import ingest_stream
    from nlp_tasks.storage import ObjectReadError, ObjectUnavailable

    rows = [json.dumps({"review_id": f"r{i}", "text": "words " * 30}) for i in range(3000)]
    data = ("[" + ",".join(rows) + "]").encode() if name.endswith(".json") else ("\n".join(rows) + "\n").encode()
    if name.endswith(".csv.zst"):
        data = b"review_id,text\n" + "\n".join(f"r{i},{'words ' * 30}" for i in range(3000)).encode()
    data = _gzip.compress(data) if name.endswith(".gz") else _zst(data) if name.endswith(".zst") else data
    with pytest.raises(ObjectReadError):
        ingest_stream(name, _FailingStream(data, len(data) // 2, ObjectReadError("read failed: OSError")))
    # Gone or forbidden mid-read: the object is quarantined whole with that reason.
    r = ingest_stream(name, _FailingStream(data, len(data) // 2, ObjectUnavailable("access denied: test")))
    assert not r.rows and [q["reason"] for q in r.rejects] == ["access denied: test"]


def test_lake_open_input_says_when_an_object_is_gone(tmp_path):
    from nlp_tasks.storage import Lake, ObjectUnavailable

    lake = Lake(f"file://{tmp_path}")
    lake.write_text(lake.uri("here.jsonl"), '{"review_id": "h", "text": "x"}\n')
    with lake.open_input(lake.uri("here.jsonl")) as f:
        assert ingest_stream_rows(f) == ["h"]
    with pytest.raises(ObjectUnavailable, match="not found when read"):
        lake.open_input(lake.uri("gone.jsonl"))


def ingest_stream_rows(f) -> list[str]:
    from nlp_tasks.ingest import ingest_stream

    return [row["review_id"] for row in ingest_stream("here.jsonl", f).rows]


def test_rows_leave_in_batches_as_they_are_read():
    from nlp_tasks.ingest import ingest_stream

    lines = [json.dumps({"review_id": f"r{i}", "text": "fine"}) for i in range(50_000)] + ["{bad"]
    batches: list[pa.Table] = []
    r = ingest_stream(
        "big.jsonl", io.BytesIO(("\n".join(lines) + "\n").encode()), sink=batches.append, batch_rows=20_000
    )
    assert [b.num_rows for b in batches] == [20_000, 20_000] and len(r.rows) == 10_000
    assert r.row_count == 50_000 and r.records == 50_001 and not r.discarded
    ids = [i for b in batches for i in b.column("review_id").to_pylist()] + [row["review_id"] for row in r.rows]
    assert ids == [f"r{i}" for i in range(50_000)]


def test_a_stream_that_breaks_after_batches_left_voids_them():
    from nlp_tasks.ingest import ingest_stream

    data = _gzip.compress(
        ("\n".join(json.dumps({"review_id": f"r{i}", "text": "x " * 20}) for i in range(60_000)) + "\n").encode()
    )
    batches: list[pa.Table] = []
    r = ingest_stream("cut.jsonl.gz", io.BytesIO(data[: len(data) * 3 // 4]), sink=batches.append, batch_rows=10_000)
    assert batches and r.discarded
    assert r.row_count == 0 and [q["reason"] for q in r.rejects] == ["truncated or corrupt gzip stream"]
