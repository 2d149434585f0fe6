"""Read raw objects (JSONL, CSV, Parquet reviews; PDF documents) into the canonical schema.

Every record a file yields ends up either in the ingested table or as a quarantine row with
a reason naming the file and the line/row; a file that yields nothing usable (empty, corrupt,
encrypted, unsupported) becomes exactly one quarantine record. Reasons never quote the
record's content, which may contain PII.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import posixpath
from dataclasses import dataclass, field

import pyarrow as pa

from .schema import CANONICAL_FIELDS, INGESTED

log = logging.getLogger(__name__)

# Common spellings seen in exports from review platforms; anything else is ignored.
ALIASES = {
    "id": "review_id",
    "reviewid": "review_id",
    "review_id": "review_id",
    "body": "text",
    "review": "text",
    "review_text": "text",
    "text": "text",
    "content": "text",
    "stars": "rating",
    "rating": "rating",
    "score": "rating",
    "product": "product_id",
    "product_id": "product_id",
    "asin": "product_id",
    "sku": "product_id",
    "title": "title",
    "summary": "title",
    "headline": "title",
    "created_at": "created_at",
    "date": "created_at",
    "timestamp": "created_at",
}


@dataclass
class IngestResult:
    source_file: str
    rows: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)

    @property
    def records(self) -> int:
        return len(self.rows) + len(self.rejects)

    def reject(self, row: int, reason: str, review_id: str | None = None) -> None:
        self.rejects.append(
            {"source_file": self.source_file, "source_row": row, "stage": "ingest", "reason": reason, "review_id": review_id}
        )

    def table(self) -> pa.Table:
        cols = {name: [r.get(name) for r in self.rows] for name in INGESTED.names}
        return pa.table(cols, schema=INGESTED)


def _as_str(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def canonical(record: dict) -> dict:
    out: dict = {}
    for key, value in record.items():
        name = ALIASES.get(str(key).strip().lower())
        if name and name not in out:
            value = _as_str(value)
            # CSV and spreadsheets write a missing optional value as an empty cell.
            if name != "text" and value is not None and not value.strip():
                value = None
            out[name] = value
    return {k: out.get(k) for k in CANONICAL_FIELDS}


def _add(result: IngestResult, record: dict, row: int, kind: str = "review") -> None:
    rec = canonical(record)
    rec.update(source_file=result.source_file, source_row=row, source_kind=kind)
    result.rows.append(rec)


def read_jsonl(data: bytes, result: IngestResult) -> None:
    for n, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            result.reject(n, f"line {n}: not valid UTF-8 (byte offset {e.start})")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            result.reject(n, f"line {n}: malformed JSON ({e.msg} at column {e.colno})")
            continue
        if not isinstance(obj, dict):
            result.reject(n, f"line {n}: expected a JSON object, got {type(obj).__name__}")
            continue
        _add(result, obj, n)


def read_csv(data: bytes, result: IngestResult) -> None:
    text = data.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    for n, row in enumerate(reader, 2):  # line 1 is the header
        if not row or not any(c.strip() for c in row):
            continue
        if any("\udc80" <= ch <= "\udcff" for cell in row for ch in cell):
            result.reject(n, f"line {n}: not valid UTF-8")
            continue
        if len(row) != len(header):
            result.reject(n, f"line {n}: expected {len(header)} columns, got {len(row)}")
            continue
        _add(result, dict(zip(header, row)), n)


def read_parquet(data: bytes, result: IngestResult) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(data))
    for n, record in enumerate(table.to_pylist(), 1):
        _add(result, record, n)


def read_pdf(data: bytes, result: IngestResult) -> None:
    """One document per PDF: all pages' text, the review_id derived from the file name."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            result.reject(0, "encrypted PDF: cannot extract text")
            return
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata or {}
        title = meta.get("/Title") if hasattr(meta, "get") else None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        result.reject(0, f"corrupt PDF: {type(e).__name__}")
        return
    text = "\n".join(p.strip() for p in pages).strip()
    if not text:
        result.reject(0, f"PDF has no text layer ({len(pages)} pages, probably scanned)")
        return
    stem = posixpath.splitext(posixpath.basename(result.source_file))[0]
    record = {"review_id": f"pdf-{stem}", "text": text, "title": str(title) if title else None}
    # A PDF may carry product and rating in its document info, as our sample exports do.
    for key in ("product_id", "rating", "created_at"):
        value = meta.get(f"/{key}") if hasattr(meta, "get") else None
        if value:
            record[key] = str(value)
    _add(result, record, 0, kind="pdf")


READERS = {".jsonl": read_jsonl, ".json": read_jsonl, ".ndjson": read_jsonl, ".csv": read_csv, ".parquet": read_parquet, ".pdf": read_pdf}


def ingest_bytes(source_file: str, data: bytes) -> IngestResult:
    result = IngestResult(source_file)
    ext = posixpath.splitext(source_file.lower())[1]
    reader = READERS.get(ext)
    if reader is None:
        result.reject(0, f"unsupported file type {ext or '(none)'}")
        return result
    if not data:
        result.reject(0, "empty file (0 bytes)")
        return result
    try:
        reader(data, result)
    except Exception as e:  # one unreadable file must never stop the others
        log.warning("could not read %s: %s", source_file, type(e).__name__)
        result.rows.clear()
        result.rejects.clear()
        result.reject(0, f"unreadable {ext[1:]} file: {type(e).__name__}")
        return result
    if result.records == 0:
        result.reject(0, "file holds no records")
    return result
