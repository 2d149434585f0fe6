"""Read raw objects (JSONL, CSV, Parquet reviews; PDF documents) into the canonical schema.

Every record a file yields ends up either in the ingested table or as a quarantine row with
a reason naming the file and the line/row; a file that yields nothing usable (empty, corrupt,
encrypted, unsupported) becomes exactly one quarantine record. Reasons never quote the
record's content, which may contain PII.
"""
from __future__ import annotations

import csv
import functools
import io
import json
import logging
import posixpath
import re
from dataclasses import dataclass, field
from itertools import groupby, repeat
from operator import itemgetter

import pyarrow as pa

from .schema import CANONICAL_FIELDS, INGESTED

log = logging.getLogger(__name__)

_ROW_TYPE = pa.struct(list(INGESTED))

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
        # Arrow converts the row dicts in C; a Python list per column was most of the cost.
        rows = pa.array(self.rows, type=_ROW_TYPE)
        return pa.Table.from_struct_array(rows)


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


@functools.lru_cache(maxsize=256)
def _field_getter(keys: tuple) -> itemgetter:
    """Picks a record's raw value for each CANONICAL_FIELDS entry out of [*values, None].

    Same rules as walking dict(zip(keys, values)): a repeated key keeps its first position but
    its last value, and the first key aliasing a field wins; an absent field gets the trailing
    None. Files repeat one key set on every record, so this runs once per file, not per record.
    """
    last = {key: i for i, key in enumerate(keys)}  # insertion order = first occurrence
    found: dict[str, int] = {}
    for key, i in last.items():
        name = ALIASES.get(str(key).strip().lower())
        if name and name not in found:
            found[name] = i
    return itemgetter(*(found.get(name, -1) for name in CANONICAL_FIELDS))


def _canonical_column(name: str, values) -> list:
    """canonical()'s value conversion for one field of many records at once."""
    # Usual case, checked without a Python-level loop: strings only, and for an optional
    # field none of them blank. Such a column needs no conversion.
    if set(map(type, values)) <= {str} and (name == "text" or all(map(str.strip, values))):
        return list(values)
    if name == "text":  # blank text stays "": validation reports it
        return [v if type(v) is str else _as_str(v) for v in values]
    # Ints (ratings) are common too; str() of one is never blank.
    return [v if type(v) is str and v.strip() else str(v) if type(v) is int else _optional_str(v) for v in values]


def _optional_str(value) -> str | None:
    value = _as_str(value)
    # CSV and spreadsheets write a missing optional value as an empty cell.
    return value if value is not None and value.strip() else None


def canonical(record: dict) -> dict:
    raw = _field_getter(tuple(record))([*record.values(), None])
    return {name: _canonical_column(name, (v,))[0] for name, v in zip(CANONICAL_FIELDS, raw)}


def _add(result: IngestResult, record: dict, row: int, kind: str = "review") -> None:
    rec = canonical(record)
    rec.update(source_file=result.source_file, source_row=row, source_kind=kind)
    result.rows.append(rec)


def _add_columns(result: IngestResult, columns: list, row_numbers, kind: str = "review") -> None:
    """Append one row per row number; columns hold raw values, one per CANONICAL_FIELDS entry.

    Converting column by column keeps the per-record work to building the row dict.
    """
    review_id, text, title, product_id, rating, created_at = (
        _canonical_column(name, col) for name, col in zip(CANONICAL_FIELDS, columns)
    )
    src = result.source_file
    # A dict display is the cheapest way to build a row; the keys are INGESTED's columns.
    result.rows += [
        {"review_id": r, "text": t, "title": ti, "product_id": p, "rating": ra, "created_at": c,
         "source_file": src, "source_row": n, "source_kind": kind}
        for r, t, ti, p, ra, c, n in zip(review_id, text, title, product_id, rating, created_at, row_numbers)
    ]


def _loads(line: str):
    """json.loads(line), with a shortcut for the common case of a line that is exactly one object.

    Scanning from the first character skips loads' whitespace/BOM/trailing-data checks, which
    cannot fail for such a line; anything else goes through json.loads for its exact error.
    """
    if line[:1] == "{":
        try:
            obj, end = _scan_once(line, 0)
        except (StopIteration, ValueError):
            pass
        else:
            if end == len(line):
                return obj
    return json.loads(line)


_scan_once = json.JSONDecoder().scan_once  # the decoder json.loads uses, same defaults


def read_jsonl(data: bytes, result: IngestResult) -> None:
    # splitlines() also breaks at a lone \r; without one, split() finds the same lines much
    # faster (its extra empty last line is skipped as blank).
    lines = data.split(b"\n") if b"\r" not in data else data.splitlines()
    objects, row_numbers = [], []
    for n, line in enumerate(lines, 1):
        if not line or line.isspace():  # same test as not line.strip(), without the copy
            continue
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as e:
            result.reject(n, f"line {n}: not valid UTF-8 (byte offset {e.start})")
            continue
        try:
            obj = _loads(line)
        except json.JSONDecodeError as e:
            result.reject(n, f"line {n}: malformed JSON ({e.msg} at column {e.colno})")
            continue
        if not isinstance(obj, dict):
            result.reject(n, f"line {n}: expected a JSON object, got {type(obj).__name__}")
            continue
        objects.append(obj)
        row_numbers.append(n)
    if objects:
        _add_columns(result, _object_columns(objects), row_numbers)


def _object_columns(objects: list[dict]) -> list[list]:
    """The raw values of each CANONICAL_FIELDS entry, one column per field, in record order."""
    columns: list[list] = [[] for _ in CANONICAL_FIELDS]
    # A file's records normally all have the same keys: transpose each run of records with
    # the same keys to columns in one go instead of picking fields record by record.
    for keys, run in groupby(objects, key=tuple):
        run = list(run)
        values = [*zip(*map(dict.values, run)), (None,) * len(run)]
        for column, picked in zip(columns, _field_getter(keys)(values)):
            column += picked
    return columns


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of an invalid byte


def read_csv(data: bytes, result: IngestResult) -> None:
    # Nearly every file is valid UTF-8: decode it strictly and skip the per-row byte check.
    try:
        text, check_bytes = data.decode("utf-8"), False
    except UnicodeDecodeError:
        text, check_bytes = data.decode("utf-8", errors="surrogateescape"), True
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    width = len(header)
    good, row_numbers = [], []
    for n, row in enumerate(reader, 2):  # line 1 is the header
        if not row or not any(map(str.strip, row)):
            continue
        if check_bytes and any(map(_ESCAPED_BYTE.search, row)):
            result.reject(n, f"line {n}: not valid UTF-8")
            continue
        if len(row) != width:
            result.reject(n, f"line {n}: expected {width} columns, got {len(row)}")
            continue
        good.append(row)
        row_numbers.append(n)
    if good:
        # One tuple per CSV column, plus an all-None one for the fields the header lacks.
        columns = [*zip(*good), (None,) * len(good)]
        _add_columns(result, list(_field_getter(tuple(header))(columns)), row_numbers)


def _parquet_column(column: pa.ChunkedArray) -> list:
    import pyarrow.compute as pc

    if pa.types.is_integer(column.type):
        column = pc.cast(column, pa.string())  # same digits as str(int), converted in C
    return column.to_pylist()  # other types: _as_str gives Python's own str/JSON form, as before


def read_parquet(data: bytes, result: IngestResult) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(data))
    # Column by column: only aliased columns leave Arrow, and no dict is built per input row.
    n_rows = table.num_rows
    columns = [*table.columns, pa.chunked_array([pa.nulls(n_rows)])]
    picked = _field_getter(tuple(table.column_names))(columns)
    _add_columns(result, [_parquet_column(col) for col in picked], range(1, n_rows + 1))


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
