"""Published partitions: which are complete, which files they hold, and how they are replaced.

Every published table (``reports/<table>/dt=D/``, ``quarantine/dt=D/``, the weekly rollup's
``week=W/``) is a folder of Parquet files and a ``_SUCCESS`` marker, a small JSON object
written last::

    {"run_id": "...", "rows": 1234567, "files": [{"name": "part-3f9c2a1b-00000.parquet", "rows": 1000000}, ...]}

The marker is the switch: the files it lists are the partition. Everything in this package
reads partitions through this module, so a reader never sees half of a commit:

- a one-file partition is ``part-00000.parquet``, replaced in one atomic write or copy, so
  plain glob readers (DuckDB, pandas, Athena) see the old file or the new one, never a mix;
- a many-file partition is committed as new files under names no earlier commit used
  (``part-<token>-NNNNN.parquet``), then the marker listing them, then the old files are
  deleted. Readers that honour the marker see the old set or the new set. A glob reader that
  lists the folder in the seconds between the copies and the deletes can see both: query
  after the marker's ``run_id`` changes, or read the files the marker lists (docs/reports.md).

A marker without ``files`` (written before partitions could hold several files) means "every
Parquet file in the folder".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import posixpath
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from . import layout
from .storage import Lake

log = logging.getLogger(__name__)

SUCCESS = layout.SUCCESS
SINGLE = layout.SINGLE_FILE
# Bounded rows per file and per row group: a 1,000,000-row sentiment file is ~100-250 MB,
# the size Athena and DuckDB scan well; row groups of 122,880 rows are DuckDB's own unit and
# large enough for Athena's per-row-group overhead, and one of them is what a writer buffers.
ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 122_880
# ...and a row group is cut early once it holds this many bytes in memory, so a day of
# long reviews (2,000 characters each: ~250 MB per 122,880 rows) costs a writer no more.
ROW_GROUP_BYTES = 64 * 1024 * 1024
READ_BATCH_ROWS = 65_536


# -- reading ------------------------------------------------------------------------------
def marker(lake: Lake, prefix: str) -> dict | None:
    """The partition's ``_SUCCESS`` marker, or None if it is not complete."""
    uri = prefix.rstrip("/") + "/" + SUCCESS
    if not lake.exists(uri):
        return None
    text = lake.read_text(uri)  # any other error is the store's, and the task's retry
    try:
        return json.loads(text or "{}")
    except ValueError:  # an old empty marker: complete, nothing more known
        return {}


def is_complete(lake: Lake, prefix: str) -> bool:
    return lake.exists(prefix.rstrip("/") + "/" + SUCCESS)


def files(lake: Lake, prefix: str) -> list[str] | None:
    """The Parquet files of a complete partition, in order; None if it is not complete."""
    m = marker(lake, prefix)
    if m is None:
        return None
    if "files" in m:
        return [prefix.rstrip("/") + "/" + f["name"] for f in m["files"]]
    return lake.list_files(prefix, (".parquet",))


def read(lake: Lake, prefix: str, columns: list[str] | None = None) -> pa.Table | None:
    """A complete partition whole (for small tables and tools), or None if not complete."""
    uris = files(lake, prefix)
    if uris is None:
        return None
    tables = [lake.read_parquet(u) for u in uris]
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    if columns is not None:
        table = table.select([c for c in columns if c in table.column_names])
    return table


def batches(
    lake: Lake, uri: str, columns: list[str] | None = None, batch_rows: int = READ_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """One Parquet file's ``columns`` (those it has) a batch at a time: never the whole file."""
    with lake.fs.open_input_file(lake.path(uri)) as f:
        pf = pq.ParquetFile(f)
        cols = None if columns is None else [c for c in columns if c in pf.schema_arrow.names]
        yield from pf.iter_batches(batch_size=batch_rows, columns=cols)


def complete_keys(lake: Lake, table_uri: str, key: str = "dt") -> list[str]:
    """The values of ``key`` (``dt=...``) of every complete partition under a table, sorted."""
    out = []
    for d in lake.list_dirs(table_uri):
        name = d.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith(key + "=") and is_complete(lake, d):
            out.append(name[len(key) + 1 :])
    return sorted(out)


def published_days(lake: Lake, table_uri: str) -> list[str]:
    """Days (YYYY-MM-DD) with a complete partition under ``table_uri``, oldest first."""
    out = []
    for day in complete_keys(lake, table_uri, "dt"):
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            continue
        out.append(day)
    return out


# -- writing ------------------------------------------------------------------------------
class StagedWriter:
    """Streams tables into Parquet files of at most ``rows_per_file`` rows under a staging
    folder, in row groups of ``row_group_rows``; memory is one row group, not the partition.

    ``close()`` returns ``[(uri, rows), ...]``: what ``commit`` takes. A partition with no
    rows still gets one empty file with the schema, so readers get the columns."""

    def __init__(
        self,
        lake: Lake,
        folder: str,
        schema: pa.Schema,
        rows_per_file: int | None = None,
        row_group_rows: int | None = None,
    ):
        self.lake, self.folder, self.schema = lake, folder.rstrip("/"), schema
        self.rows_per_file = rows_per_file or ROWS_PER_FILE
        self.row_group_rows = min(row_group_rows or ROW_GROUP_ROWS, self.rows_per_file)
        self.done: list[tuple[str, int]] = []
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._bytes = 0
        self._writer = None
        self._sink = None
        self._file_rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = table.select(self.schema.names).cast(self.schema)
        self._buffer.append(table)
        self._buffered += table.num_rows
        self._bytes += table.nbytes
        while self._buffered >= self._room():
            self._flush(self._room())
        if self._bytes >= ROW_GROUP_BYTES:  # a row group of long texts: cut it by size
            self._flush(self._buffered)

    def close(self) -> list[tuple[str, int]]:
        while self._buffered:
            self._flush(min(self._buffered, self._room()))
        if self._writer is None and not self.done:
            self._open()  # an empty partition: one file with the schema
        self._close_file()
        return self.done

    def _room(self) -> int:
        """Rows the next row group may take: a full row group, or what the file has left."""
        return min(self.row_group_rows, self.rows_per_file - self._file_rows)

    def _flush(self, n: int) -> None:
        merged = pa.concat_tables(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        writer = self._writer if self._writer is not None else self._open()
        writer.write_table(merged.slice(0, n), row_group_size=n)
        self._file_rows += n
        rest = merged.slice(n)
        self._buffer, self._buffered = ([rest] if rest.num_rows else []), rest.num_rows
        self._bytes = rest.nbytes if rest.num_rows else 0
        if self._file_rows >= self.rows_per_file:
            self._close_file()

    def _open(self) -> pq.ParquetWriter:
        uri = f"{self.folder}/part-{len(self.done):05d}.parquet"
        path = self.lake.path(uri)
        if not self.lake.is_s3:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self._sink = self.lake.fs.open_output_stream(path, compression=None)
        self._writer = pq.ParquetWriter(self._sink, self.schema, compression="zstd")
        self._uri, self._file_rows = uri, 0
        return self._writer

    def _close_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._sink.close()
        self.done.append((self._uri, self._file_rows))
        self._writer = self._sink = None
        self._file_rows = 0


def commit(lake: Lake, prefix: str, staged: list[tuple[str, int]], run_id: str, **extra) -> dict:
    """Make staged files the partition at ``prefix``: copy, switch the marker, delete the old.

    Idempotent: a retry after a kill at any point commits again and ends in the same state.
    Returns the marker written."""
    prefix = prefix.rstrip("/")
    if len(staged) == 1:
        names = [SINGLE]  # one file: replaced in place, one atomic step for every reader
    else:
        token = hashlib.sha1(f"{run_id}/{time.time_ns()}".encode()).hexdigest()[:8]
        names = [f"part-{token}-{i:05d}.parquet" for i in range(len(staged))]
    for (uri, _), name in zip(staged, names, strict=True):
        lake.copy(uri, f"{prefix}/{name}")
    m = {
        "run_id": run_id,
        "rows": sum(r for _, r in staged),
        "files": [{"name": n, "rows": r} for n, (_, r) in zip(names, staged, strict=True)],
        **extra,
    }
    lake.write_text(f"{prefix}/{SUCCESS}", json.dumps(m) + "\n")
    keep = {f"{prefix}/{n}" for n in names}
    for stale in lake.list_files(prefix):
        if stale not in keep and posixpath.dirname(stale) == prefix:
            lake.delete(stale)
    return m


def write(lake: Lake, prefix: str, table: pa.Table, run_id: str, **extra) -> dict:
    """Replace a small partition with one table: one file written in place, then the marker."""
    prefix = prefix.rstrip("/")
    lake.write_parquet(table, f"{prefix}/{SINGLE}")
    m = {"run_id": run_id, "rows": table.num_rows, "files": [{"name": SINGLE, "rows": table.num_rows}], **extra}
    lake.write_text(f"{prefix}/{SUCCESS}", json.dumps(m) + "\n")
    for stale in lake.list_files(prefix):
        if stale != f"{prefix}/{SINGLE}" and posixpath.dirname(stale) == prefix:
            lake.delete(stale)
    return m
