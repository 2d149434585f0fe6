"""Scores kept across nights, so a text scored once is never scored again by the same model.

    <data root>/cache/sentiment_scores/<model_version>/<runtime>/part-*.parquet

Key: sha256 of the exact text the model reads (the redacted title + text), under the model
version and the runtime that computed it (variant, runtime and version, CPU instruction set:
what decides a score's bits besides the weights). Value: the model's class probabilities as
float32, the numbers the report is made of, so a cached row is bit-identical to a cold run's.
That only holds for engines whose scores do not depend on their batch (``batch_invariant``:
FP32, OpenVINO static INT8); for the others ``score`` does not use the cache.

Each scoring task appends one segment (its new scores and the keys it hit, with the day, so
use refreshes an entry); when a folder holds more than ``MAX_SEGMENTS`` segments the task that
notices compacts them into one: the newest use of each key, entries unused for
``retention_days`` (counted back from the newest use in the store) dropped, and at most
``max_entries`` kept, newest first. Compaction writes the merged segment before deleting the
ones it merged, so concurrent tasks never lose an entry (at worst one is stored twice until the
next compaction). Nothing here may fail a night: every error is logged and reads as a miss.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import posixpath
import time
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

ROOT = "cache/sentiment_scores"
MAX_SEGMENTS = 32
DEFAULT_MAX_ENTRIES = 5_000_000  # ~60 bytes each in memory while compacting: ~300 MB at most


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _safe(part: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in part)


class ScoreCache:
    def __init__(
        self,
        lake,
        model_version: str,
        runtime: str,
        classes: tuple[str, ...],
        retention_days: int = 30,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ):
        self.lake = lake
        self.classes = tuple(classes)
        self.folder = lake.uri(ROOT, _safe(model_version), _safe(runtime))
        self.retention_days = int(retention_days)
        self.max_entries = int(max_entries)

    def _schema(self) -> pa.Schema:
        return pa.schema(
            [("key", pa.binary(32)), ("last_used", pa.date32())] + [(f"p_{c}", pa.float32()) for c in self.classes]
        )

    def segments(self) -> list[str]:
        return self.lake.list_files(self.folder, (".parquet",))

    # -- reads --------------------------------------------------------------------------
    def lookup(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(found mask (n,), probabilities (n, classes)); a row not found is all zeros.

        Streams the segments a record batch at a time: memory grows with the shard, not the store.
        """
        n, k = len(keys), len(self.classes)
        found = np.zeros(n, dtype=bool)
        probs = np.zeros((n, k), dtype=np.float32)
        if not n:
            return found, probs
        wanted = pa.array(keys, pa.binary(32))
        index = {key: i for i, key in enumerate(keys)}  # a repeated key: its last row, filled below
        cols = ["key"] + [f"p_{c}" for c in self.classes]
        for seg in self.segments():
            try:
                with self.lake.fs.open_input_file(self.lake.path(seg)) as f:
                    for batch in pq.ParquetFile(f).iter_batches(columns=cols, batch_size=65_536):
                        hit = pc.is_in(batch.column(0), value_set=wanted)
                        if not pc.any(hit).as_py():
                            continue
                        sub = batch.filter(hit)
                        rows = [index[x] for x in sub.column(0).to_pylist()]
                        probs[rows] = np.stack([sub.column(j + 1).to_numpy(zero_copy_only=False) for j in range(k)], 1)
                        found[rows] = True
            except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
                # Gone (a concurrent compaction merged it) or unreadable: its entries are misses.
                log.warning("score cache: segment %s unreadable (%s): its entries count as misses", seg, exc)
        if len(index) < n:  # repeated keys share their first occurrence's row
            for i, key in enumerate(keys):
                j = index[key]
                if j != i:
                    found[i], probs[i] = found[j], probs[j]
        return found, probs

    # -- writes -------------------------------------------------------------------------
    def add(self, day: str, keys: list[bytes], probs: np.ndarray) -> str | None:
        """One segment of (key, day, probabilities): new scores and refreshed hits."""
        if not keys:
            return None
        seen: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            seen.setdefault(key, i)
        rows = np.fromiter(seen.values(), dtype=np.int64, count=len(seen))
        day_value = dt.date.fromisoformat(day)
        table = pa.table(
            [pa.array(list(seen), pa.binary(32)), pa.array([day_value] * len(rows), pa.date32())]
            + [pa.array(probs[rows, j].astype(np.float32), pa.float32()) for j in range(len(self.classes))],
            schema=self._schema(),
        )
        uri = posixpath.join(self.folder, f"part-{day}-{uuid.uuid4().hex[:12]}.parquet")
        self.lake.write_parquet(table, uri)
        return uri

    def compact(self, force: bool = False) -> dict | None:
        """Merge the segments into one when there are more than MAX_SEGMENTS (or ``force``)."""
        segs = self.segments()
        if len(segs) <= (1 if force else MAX_SEGMENTS):
            return None
        t0 = time.perf_counter()
        tables, merged_from = [], []
        for seg in segs:
            try:
                tables.append(self.lake.read_parquet(seg).cast(self._schema()))
                merged_from.append(seg)
            except (OSError, pa.ArrowException, ValueError) as exc:
                log.warning("score cache: segment %s unreadable while compacting (%s): left as it is", seg, exc)
        table = pa.concat_tables(tables) if tables else self._schema().empty_table()
        rows_in = table.num_rows
        # The newest use of each key: sort by (key, last_used desc), keep each key's first row.
        table = table.sort_by([("key", "ascending"), ("last_used", "descending")])
        keys = table.column("key")
        first = np.ones(table.num_rows, dtype=bool)
        if table.num_rows > 1:
            first[1:] = pc.not_equal(keys.slice(1), keys.slice(0, table.num_rows - 1)).to_numpy(zero_copy_only=False)
        table = table.filter(pa.array(first))
        if table.num_rows:
            newest = pc.max(table.column("last_used")).as_py()
            cutoff = newest - dt.timedelta(days=self.retention_days)
            table = table.filter(pc.greater_equal(table.column("last_used"), pa.scalar(cutoff, pa.date32())))
        if table.num_rows > self.max_entries:
            table = table.sort_by([("last_used", "descending"), ("key", "ascending")]).slice(0, self.max_entries)
        table = table.sort_by("key")  # one order whatever the segments' order
        uri = posixpath.join(self.folder, f"part-compact-{uuid.uuid4().hex[:12]}.parquet")
        self.lake.write_parquet(table, uri)
        # Delete only what was merged into the new segment.
        for seg in merged_from:
            self.lake.delete(seg)
        out = {
            "segments": len(segs),
            "rows_in": rows_in,
            "rows_kept": table.num_rows,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        log.info("score cache compacted %s: %s", self.folder, out)
        return out
