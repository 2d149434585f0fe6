"""Read raw objects (JSONL/NDJSON, JSON arrays, CSV, Parquet reviews, gzip- or
zstd-compressed; PDF documents) into the canonical schema.

Every record a file yields ends up either in the ingested table or as a quarantine row with
a reason naming the file and the line/row; a file that yields nothing usable (empty, corrupt,
encrypted, unsupported, not what its name says) becomes exactly one quarantine record.
Reasons never quote the record's content, which may contain PII.

Objects are read as streams: compressed ones are decompressed as they are read, and a line
(or JSON array element) is held at most MAX_RECORD_BYTES at a time, so one object never has
to fit in memory as raw or decompressed bytes (the parsed rows still do: see issue 19).

Control characters (C0 other than tab/newline/carriage return, DEL, C1) are stripped from
every field rather than quarantined: they are invisible, carry no sentiment, and come from
exporters, not from reviewers. Lone surrogate escapes ("\\ud83d" of a half-cut emoji) cannot
be encoded at all, so such a record is quarantined with its line.
"""

from __future__ import annotations

import codecs
import csv
import functools
import gzip
import io
import json
import logging
import posixpath
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

import pyarrow as pa

from .schema import CANONICAL_FIELDS, INGESTED
from .storage import ObjectReadError, ObjectUnavailable

log = logging.getLogger(__name__)

_ROW_TYPE = pa.struct(list(INGESTED))

# One line (or JSON array element) larger than this is quarantined without being parsed: it
# bounds what one record can cost in memory. Validation rejects texts far shorter anyway.
MAX_RECORD_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
# Records parsed before they are converted and handed on in one go (column-wise is faster).
READ_BATCH = 16_384
# Compression is named by the last suffix ("export.jsonl.gz"); the one before names the format.
COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
# Invisible control characters, stripped from every string field (RE2 syntax, run in Arrow).
_CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"

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
class ParsedObject:
    """What one object yielded: canonical rows and quarantine rejects.

    With a ``sink``, rows leave in tables of ``batch_rows`` as they are read (the caller
    writes each as a shard), so memory holds one batch, not the object; ``rows`` is then the
    unflushed tail. Without one (tests, small callers) every row stays in ``rows``.
    """

    source_file: str
    rows: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    sink: Callable[[pa.Table], None] | None = None
    batch_rows: int = 20_000
    flushed_rows: int = 0
    # Set when a whole-object fault came after batches had left: the caller drops them.
    discarded: bool = False

    @property
    def row_count(self) -> int:
        return self.flushed_rows + len(self.rows)

    @property
    def records(self) -> int:
        return self.row_count + len(self.rejects)

    def reject(self, row: int, reason: str, review_id: str | None = None) -> None:
        self.rejects.append(
            {
                "source_file": self.source_file,
                "source_row": row,
                "stage": "ingest",
                "reason": reason,
                "review_id": review_id,
            }
        )

    def maybe_flush(self) -> None:
        while self.sink is not None and len(self.rows) >= self.batch_rows:
            batch, self.rows = self.rows[: self.batch_rows], self.rows[self.batch_rows :]
            self.sink(self._table(batch))
            self.flushed_rows += len(batch)

    def discard(self, reason: str) -> None:
        """The whole object is one quarantined record (it cannot be read as what it claims)."""
        self.discarded = self.discarded or self.flushed_rows > 0
        self.rows.clear()
        self.rejects.clear()
        self.flushed_rows = 0
        self.reject(0, reason)

    def table(self) -> pa.Table:
        """The rows not yet flushed, as an Arrow table."""
        return self._table(self.rows)

    @staticmethod
    def _table(rows: list[dict]) -> pa.Table:
        import pyarrow.compute as pc

        # Arrow converts the row dicts in C; a Python list per column was most of the cost.
        table = pa.Table.from_struct_array(pa.array(rows, type=_ROW_TYPE))
        # Free text and ids; a control character in a rating or date already fails validation.
        for name in ("review_id", "text", "title", "product_id"):
            col = table.column(name)
            if pc.any(pc.match_substring_regex(col, _CONTROL_CHARS)).as_py():
                table = table.set_column(
                    table.schema.get_field_index(name), name, pc.replace_substring_regex(col, _CONTROL_CHARS, "")
                )
        return table


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
    return {name: _canonical_column(name, (v,))[0] for name, v in zip(CANONICAL_FIELDS, raw, strict=True)}


def _add(result: ParsedObject, record: dict, row: int, kind: str = "review") -> None:
    rec = canonical(record)
    rec.update(source_file=result.source_file, source_row=row, source_kind=kind)
    result.rows.append(rec)


def _add_columns(result: ParsedObject, columns: list, row_numbers, kind: str = "review") -> None:
    """Append one row per row number; columns hold raw values, one per CANONICAL_FIELDS entry.

    Converting column by column keeps the per-record work to building the row dict.
    """
    review_id, text, title, product_id, rating, created_at = (
        _canonical_column(name, col) for name, col in zip(CANONICAL_FIELDS, columns, strict=True)
    )
    src = result.source_file
    # A dict display is the cheapest way to build a row; the keys are INGESTED's columns.
    result.rows += [
        {
            "review_id": r,
            "text": t,
            "title": ti,
            "product_id": p,
            "rating": ra,
            "created_at": c,
            "source_file": src,
            "source_row": n,
            "source_kind": kind,
        }
        for r, t, ti, p, ra, c, n in zip(
            review_id, text, title, product_id, rating, created_at, row_numbers, strict=True
        )
    ]
    result.maybe_flush()


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


_scan_once = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the decoder json.loads uses, same defaults


class _Raw(io.RawIOBase):
    """Any object with read(n) (a pyarrow stream, a GzipFile, BytesIO) as a raw stream, so that
    io.BufferedReader's readline (in C) can split it into lines."""

    def __init__(self, source) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _buffered(stream) -> io.BufferedReader:
    return stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(_Raw(stream), CHUNK_BYTES)


def _lines(stream):
    """(line number, line bytes) for each line, the line None when longer than MAX_RECORD_BYTES.

    Lines end at b"\\n" only (a trailing b"\\r" is JSON whitespace). An over-long line is
    skipped in chunks, never held whole.
    """
    reader = _buffered(stream)
    n = 0
    while True:
        line = reader.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        n += 1
        if len(line) > MAX_RECORD_BYTES:
            while line and not line.endswith(b"\n"):
                line = reader.readline(CHUNK_BYTES)
            yield n, None
            continue
        yield n, line


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _encodable(obj) -> bool:
    """False when a decoded JSON value holds a lone surrogate (no UTF-8 encoding exists)."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_record(text: str, unit: str, n: int, result: ParsedObject) -> dict | None:
    """One JSON record (``unit`` "line" or "element" number ``n``), or None after quarantining it."""
    try:
        obj = _loads(text)
        if type(obj) is dict and "\\u" not in text:
            return obj  # the common case, kept to two checks
    except json.JSONDecodeError as e:
        where = f"{unit} {n}"
        result.reject(n, f"{where}: malformed JSON ({e.msg} at column {e.colno})")
        return None
    except RecursionError:
        result.reject(n, f"{unit} {n}: JSON nested too deeply")
        return None
    where = f"{unit} {n}"
    if not isinstance(obj, dict):
        result.reject(n, f"{where}: expected a JSON object, got {_json_type(obj)}")
        return None
    if _SURROGATE_ESCAPE.search(text) and not _encodable(obj):
        # A pair of surrogate escapes is one valid character; only a lone one fails here.
        result.reject(n, f"{where}: lone surrogate escape (a cut emoji?): not encodable text")
        return None
    return obj


def _json_type(obj) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(obj), "number")


def _jsonl_texts(stream, result: ParsedObject) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line; lines too long or not UTF-8 are rejected."""
    for n, line in _lines(stream):
        if line is None:
            result.reject(n, f"line {n}: longer than {MAX_RECORD_BYTES // (1024 * 1024)} MiB, not parsed")
            continue
        if line.isspace():  # same test as not line.strip(), without the copy
            continue
        try:
            # Without its line break: _loads' fast path needs the object to end the line.
            yield n, line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
            result.reject(n, f"line {n}: not valid UTF-8 (byte offset {e.start})")


def _add_json_records(result: ParsedObject, texts: Iterable[tuple[int, str]], unit: str) -> None:
    """Parse each (number, text) as a review object and add them READ_BATCH at a time."""
    objects, row_numbers = [], []
    for n, text in texts:
        obj = _parse_record(text, unit, n, result)
        if obj is None:
            continue
        objects.append(obj)
        row_numbers.append(n)
        if len(objects) >= READ_BATCH:
            _add_columns(result, _object_columns(objects), row_numbers)
            objects, row_numbers = [], []
    if objects:
        _add_columns(result, _object_columns(objects), row_numbers)


def read_jsonl(stream, result: ParsedObject) -> None:
    _add_json_records(result, _jsonl_texts(stream, result), "line")


def read_json(stream, result: ParsedObject) -> None:
    """A ``.json`` object: a JSON array of reviews, streamed element by element, or (when it
    does not start with ``[``) JSON lines."""
    reader = _buffered(stream)
    head = reader.peek(64).lstrip(codecs.BOM_UTF8).lstrip()
    while not head and reader.peek(1):  # more than 64 bytes of leading whitespace
        reader.read(len(reader.peek(CHUNK_BYTES)))
        head = reader.peek(64).lstrip()
    if head[:1] != b"[":
        read_jsonl(reader, result)
        return
    _add_json_records(result, _array_elements(reader, result), "element")


# Inside a JSON array: the characters that change nesting, and strings (skipped whole, so
# brackets and commas inside them do not count). A lone quote is a string the buffer cuts.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|"|[\[\]{},]')


def _array_elements(reader: io.BufferedReader, result: ParsedObject):
    """(element number, element text) of a top-level JSON array, read in chunks.

    Element boundaries are found by a scan of brackets and strings (regex, in C), then each
    element is parsed on its own, so one malformed or too deeply nested element is one
    quarantined record and the elements after it are still read. Text is decoded with
    surrogateescape: invalid bytes survive to _parse_record, which quarantines them. An
    element over MAX_RECORD_BYTES is quarantined and skipped without keeping its text (but
    one string inside it is still held whole while the scan looks for its closing quote).
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    buf = decoder.decode(reader.read(CHUNK_BYTES)).lstrip("\ufeff").lstrip()
    while not buf:  # leading whitespace longer than a chunk
        buf = decoder.decode(reader.read(CHUNK_BYTES)).lstrip()
    buf = buf[1:]  # the opening "["
    n, start, pos, depth, eof, skipping = 0, 0, 0, 0, False, False
    while True:
        m = _STRUCTURE.search(buf, pos)
        if m is None or m.group() == '"':
            if not eof:
                chunk = reader.read(CHUNK_BYTES)
                eof = not chunk
                # Keep only the current element; an over-long one is dropped as it goes.
                keep = pos if skipping else start
                buf, pos, start = buf[keep:] + decoder.decode(chunk, final=eof), pos - keep, start - keep
                if not skipping and len(buf) > MAX_RECORD_BYTES:
                    n += 1
                    skipping = True
                    result.reject(n, f"element {n}: longer than {MAX_RECORD_BYTES // (1024 * 1024)} MiB, not parsed")
                continue
            if skipping or buf[start:].strip():
                if not skipping:
                    n += 1
                    result.reject(n, f"element {n}: JSON array not closed (truncated file?)")
            return
        tok = m.group()
        pos = m.end()
        if tok in "[{":
            depth += 1
        elif tok in "]}" and depth > 0:
            depth -= 1
        elif depth == 0:  # "," or the closing "]" of the array
            text = buf[start : m.start()].strip()
            if skipping:
                skipping = False
            elif text or tok == ",":
                n += 1
                yield n, text
            if tok == "]":
                if buf[pos:].strip() or reader.peek(1).strip():
                    n += 1
                    result.reject(n, f"element {n}: data after the end of the JSON array")
                return
            start = pos


def _object_columns(objects: list[dict]) -> list[list]:
    """The raw values of each CANONICAL_FIELDS entry, one column per field, in record order."""
    columns: list[list] = [[] for _ in CANONICAL_FIELDS]
    # A file's records normally all have the same keys: transpose each run of records with
    # the same keys to columns in one go instead of picking fields record by record.
    for keys, group in groupby(objects, key=tuple):
        run = list(group)
        values = [*zip(*map(dict.values, run), strict=True), (None,) * len(run)]
        for column, picked in zip(columns, _field_getter(keys)(values), strict=True):
            column += picked
    return columns


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of an invalid byte


def read_csv(stream, result: ParsedObject) -> None:
    # Decoded as a stream with surrogateescape, so one badly encoded row is one rejected row.
    text = io.TextIOWrapper(_buffered(stream), encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as e:
        result.reject(1, f"line 1: malformed CSV header ({e})")
        return
    header = [h.strip() for h in header]
    width = len(header)
    good, row_numbers = [], []
    n = 1  # line 1 is the header
    while True:
        n += 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            # The message names the limit or the quoting fault, never the field's content.
            result.reject(n, f"line {n}: malformed CSV ({e})")
            continue
        if not row or not any(map(str.strip, row)):
            continue
        if not "".join(row).isascii() and any(map(_ESCAPED_BYTE.search, row)):
            result.reject(n, f"line {n}: not valid UTF-8")
            continue
        if len(row) != width:
            result.reject(n, f"line {n}: expected {width} columns, got {len(row)}")
            continue
        good.append(row)
        row_numbers.append(n)
        if len(good) >= READ_BATCH:
            _add_csv_rows(result, header, good, row_numbers)
            good, row_numbers = [], []
    if good:
        _add_csv_rows(result, header, good, row_numbers)


def _add_csv_rows(result: ParsedObject, header: list[str], good: list[list[str]], row_numbers: list[int]) -> None:
    # One tuple per CSV column, plus an all-None one for the fields the header lacks.
    columns = [*zip(*good, strict=True), (None,) * len(good)]
    _add_columns(result, list(_field_getter(tuple(header))(columns)), row_numbers)


def _parquet_column(column: pa.ChunkedArray) -> list:
    import pyarrow.compute as pc

    if pa.types.is_integer(column.type):
        column = pc.cast(column, pa.string())  # same digits as str(int), converted in C
    return column.to_pylist()  # other types: _as_str gives Python's own str/JSON form, as before


def read_parquet(stream, result: ParsedObject) -> None:
    import pyarrow.parquet as pq

    # Parquet needs random access (its footer comes last): the stream is a seekable file.
    pf = pq.ParquetFile(stream)
    first = 1
    for batch in pf.iter_batches(batch_size=65_536):
        # Column by column: only aliased columns leave Arrow, and no dict is built per input row.
        n_rows = batch.num_rows
        columns = [*map(pa.chunked_array, batch.columns), pa.chunked_array([pa.nulls(n_rows)])]
        picked = _field_getter(tuple(batch.schema.names))(columns)
        _add_columns(result, [_parquet_column(col) for col in picked], range(first, first + n_rows))
        first += n_rows


def read_pdf(stream, result: ParsedObject) -> None:
    """One document per PDF: all pages' text, the review_id derived from the file name."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(stream.read()))
        if reader.is_encrypted:
            result.reject(0, "encrypted PDF: cannot extract text")
            return
        pages = [page.extract_text() or "" for page in reader.pages]
        meta: Any = reader.metadata or {}
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


READERS = {
    ".jsonl": read_jsonl,
    ".ndjson": read_jsonl,
    ".json": read_json,
    ".csv": read_csv,
    ".parquet": read_parquet,
    ".pdf": read_pdf,
}
# Formats that may arrive compressed (Parquet and PDF compress inside the file).
STREAMED = (".jsonl", ".ndjson", ".json", ".csv")


def file_format(source_file: str) -> tuple[str, str | None]:
    """(format suffix, compression or None) from an object name: "a b#1.JSONL.gz" -> (".jsonl", "gzip")."""
    stem, ext = posixpath.splitext(posixpath.basename(source_file).lower())
    compression = COMPRESSIONS.get(ext)
    if compression:
        ext = posixpath.splitext(stem)[1]
    return ext, compression


def _decompressed(stream, compression: str | None):
    if compression == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if compression == "zstd":
        return pa.input_stream(stream, compression="zstd")
    return stream


def _stream_fault(e: Exception, ext: str, compression: str | None) -> str:
    """The reason for a whole file that could not be read as what its name says."""
    name = f"{ext[1:]}.{'gz' if compression == 'gzip' else 'zst'}" if compression else ext[1:]
    if compression == "gzip" and isinstance(e, gzip.BadGzipFile):
        return "not gzip data although named .gz"
    if compression == "gzip" and isinstance(e, (EOFError, zlib.error)):
        return "truncated or corrupt gzip stream"
    if compression == "zstd" and isinstance(e, OSError) and "frame descriptor" in str(e):
        return "not zstd data although named .zst"
    if compression == "zstd" and isinstance(e, OSError):
        return "truncated or corrupt zstd stream"
    return f"unreadable {name} file: {type(e).__name__}"


def ingest_stream(
    source_file: str, stream, sink: Callable[[pa.Table], None] | None = None, batch_rows: int = 20_000
) -> ParsedObject:
    """Read one raw object from a binary stream (random access for Parquet and PDF).

    ``sink``: called with each table of ``batch_rows`` rows as soon as it is read (see
    ParsedObject); when ``result.discarded`` is set afterwards, those tables are void.
    """
    result = ParsedObject(source_file, sink=sink, batch_rows=batch_rows)
    ext, compression = file_format(source_file)
    reader = READERS.get(ext)
    if reader is None or (compression and ext not in STREAMED):
        kind = ext + (f" ({compression})" if compression else "") if ext else "(none)"
        result.reject(0, f"unsupported file type {kind}")
        return result
    try:
        if ext in STREAMED:
            source = _buffered(_decompressed(stream, compression))
            empty = not source.peek(1)
        else:  # random access: look at the first byte, then start again
            source = stream
            empty = not stream.read(1)
            stream.seek(0)
        if empty:
            result.reject(0, "empty file (0 bytes)" if not compression else "empty file (no data after decompression)")
            return result
        reader(source, result)
    except ObjectReadError:
        raise  # the network, not the file: fail the task so that Airflow retries it
    except ObjectUnavailable as e:  # gone or forbidden once opened (rare: usually at open)
        result.discard(e.reason)
        return result
    except Exception as e:  # one unreadable file must never stop the others
        log.warning("could not read %s: %s", source_file, type(e).__name__)
        result.discard(_stream_fault(e, ext, compression))
        return result
    if result.records == 0:
        result.reject(0, "file holds no records")
    return result


def ingest_bytes(source_file: str, data: bytes) -> ParsedObject:
    return ingest_stream(source_file, io.BytesIO(data))
