"""Row-level validation of ingested reviews with a Great Expectations 1.x suite.

GX evaluates the suite over the day's rows and reports the failing row indices of each
expectation; every failing row is quarantined with the expectation(s) it broke. GX is
imported here, inside the function that runs it, never at DAG parse time.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from .schema import VALIDATED

if TYPE_CHECKING:  # imported inside the functions that need them (GX is slow to import)
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 100_000
ROW = "_row"
CREATED_TS = "_created_at_ts"
CREATED_STATE = "_created_at_state"  # ok | absent | unparseable
SOURCE_COLUMN = {CREATED_TS: "created_at", CREATED_STATE: "created_at"}  # derived -> input column
# Reviews stamped up to a day after their partition are accepted (time zones, clock skew).
FUTURE_GRACE_DAYS = 1
VALID_RATINGS = ["1", "2", "3", "4", "5"]
GX_COLUMNS = ["review_id", "text", "rating", "created_at", "source_file", "source_row"]


@dataclass
class ValidationResult:
    valid: pa.Table
    rejects: list[dict]
    expectations: list[dict]  # expectation type, column, success, unexpected_count


def build_suite(latest_created_at=None, unique: bool = True):
    """The expectation suite for the canonical review schema, in code.

    ``latest_created_at`` bounds created_at from above. It is derived from the partition date,
    not the wall clock, so a backfill next year judges the day exactly as tonight's run did.
    """
    import great_expectations as gx

    E = gx.expectations
    suite = gx.ExpectationSuite(name="reviews_canonical")
    for exp in (
        E.ExpectColumnValuesToNotBeNull(column="review_id", meta={"reason": "missing review_id"}),
        E.ExpectColumnValuesToNotBeNull(column="text", meta={"reason": "missing text"}),
        E.ExpectColumnValuesToMatchRegex(column="text", regex=r"\S", meta={"reason": "empty text"}),
        E.ExpectColumnValueLengthsToBeBetween(
            column="text", max_value=MAX_TEXT_CHARS, meta={"reason": f"text longer than {MAX_TEXT_CHARS} characters"}
        ),
        *(
            [E.ExpectColumnValuesToBeUnique(column="review_id", meta={"reason": "duplicate review_id"})]
            if unique
            else []
        ),
        E.ExpectColumnValuesToBeInSet(
            column="rating", value_set=VALID_RATINGS, meta={"reason": "rating not an integer in 1..5"}
        ),
        # Parsed once, vectorised, in _masked_frame (GX's dateutil check costs ~100 us a row).
        E.ExpectColumnValuesToBeInSet(
            column=CREATED_STATE, value_set=["ok", "absent"], meta={"reason": "created_at not a parseable date"}
        ),
    ):
        suite.add_expectation(exp)
    if latest_created_at is not None:
        suite.add_expectation(
            E.ExpectColumnValuesToBeBetween(
                column=CREATED_TS, max_value=latest_created_at, meta={"reason": "created_at in the future"}
            )
        )
    return suite


def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    try:
        ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    except Exception:  # progress bars are cosmetic; older/newer GX may name this differently
        pass
    return ctx


def _normalise_rating(values: pd.Series) -> pd.Series:
    # "4", "4.0" and 4 all mean four stars; anything else stays as given and fails the set check.
    s = values.astype("string").str.strip()
    return s.str.replace(r"^([1-5])\.0+$", r"\1", regex=True)


def _text_shape(column) -> pa.Array:
    """A stand-in with the same verdicts under the suite's text checks: null stays null, a
    blank text (whitespace and zero-width characters only) becomes "", an over-long one a run
    of MAX_TEXT_CHARS + 1 x's, any other "x"."""
    import pyarrow.compute as pc

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    # Blank = nothing but whitespace and invisible format characters (zero-width space and
    # joiners, word joiner, BOM: Unicode category Cf), which str.strip() would keep.
    visible = pc.replace_substring_regex(column, r"\p{Cf}+", "")
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(visible)), 0)
    too_long = pc.greater(pc.utf8_length(column), MAX_TEXT_CHARS)
    over = pa.scalar("x" * (MAX_TEXT_CHARS + 1), pa.large_string())
    shaped = pc.if_else(too_long, over, pa.scalar("x", pa.large_string()))
    return pc.if_else(blank, pa.scalar("", pa.large_string()), shaped)


def parse_created_at(values: pd.Series) -> pd.Series:
    """UTC timestamps; NaT where absent or unparseable. ISO 8601 (what exports write) is
    parsed in C; only the rest goes through dateutil ("mixed"), one value at a time."""
    import pandas as pd

    ts = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    retry = ts.isna() & values.notna()
    if retry.any():
        ts = ts.copy()
        ts.loc[retry] = pd.to_datetime(values[retry], errors="coerce", utc=True, format="mixed")
    return ts


def _masked_frame(table: pa.Table):
    """The frame GX sees: free text masked to its shape (null, blank, too long or not), and
    no title (nothing checks it).

    The suite's text checks depend only on that shape, and GX copies offending values into
    its results and Data Docs, which must never show raw review text (it may hold PII).
    Masking to one character also keeps megabytes of text out of pandas.
    """
    import numpy as np

    # Only the columns the suite checks or the rejects need: GX copies the frame per metric.
    masked = table.select(GX_COLUMNS)
    i = masked.schema.get_field_index("text")
    masked = masked.set_column(i, "text", _text_shape(masked.column("text")))
    df = masked.to_pandas()
    df[ROW] = np.arange(len(df))
    df["rating"] = _normalise_rating(df["rating"])
    created = df["created_at"].where(df["created_at"].astype("string").str.strip().ne(""), None)
    df[CREATED_TS] = parse_created_at(created)
    df[CREATED_STATE] = np.where(created.isna(), "absent", np.where(df[CREATED_TS].isna(), "unparseable", "ok"))
    return df


class Validator:
    """The suite, its GX context and checkpoint, built once and run on many tables (shards).

    ``check_unique=False`` leaves review_id uniqueness out: a shard cannot see the rest of the
    day, so the day-wide check is done apart (``duplicate_losers``).
    """

    def __init__(
        self, docs_dir: str | None = None, run_name: str = "nightly", day: str | None = None, check_unique: bool = True
    ):
        self.docs_dir, self.run_name, self.day, self.check_unique = docs_dir, run_name, day, check_unique
        self._checkpoints: dict[bool, object] = {}

    def _checkpoint(self, docs: bool):
        if docs not in self._checkpoints:
            self._checkpoints[docs] = self._build(docs)
        return self._checkpoints[docs]

    def _build(self, docs: bool):
        import great_expectations as gx
        import pandas as pd

        ctx = _context()
        if docs:
            ctx.add_data_docs_site(
                site_name="nightly",
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": self.docs_dir},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        batch_def = (
            ctx.data_sources.add_pandas("reviews")
            .add_dataframe_asset("day")
            .add_batch_definition_whole_dataframe("all")
        )
        latest = None
        if self.day:
            latest = pd.Timestamp(self.day, tz="UTC") + pd.Timedelta(days=1 + FUTURE_GRACE_DAYS)
        suite = ctx.suites.add(build_suite(latest, unique=self.check_unique))
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="reviews_day", data=batch_def, suite=suite))
        actions: list = [gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["nightly"])] if docs else []
        return ctx.checkpoints.add(
            gx.Checkpoint(
                name="reviews_nightly",
                validation_definitions=[vd],
                actions=actions,
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW]},
            )
        )

    def validate(self, table: pa.Table, run_name: str | None = None, docs: bool | None = None) -> ValidationResult:
        """Split ingested rows into valid (typed) rows and rejects with reasons.

        ``docs``: render this run's Data Docs page (default: whenever a docs_dir was given).
        Rendering costs ~0.25 s a run, so a day validated in many shards renders a few.
        """
        import great_expectations as gx
        import pandas as pd

        df = _masked_frame(table)
        reasons: dict[int, list[str]] = {}
        summary: list[dict] = []
        if len(df):
            checkpoint = self._checkpoint(bool(self.docs_dir) if docs is None else docs and bool(self.docs_dir))
            run = checkpoint.run(
                batch_parameters={"dataframe": df}, run_id=gx.RunIdentifier(run_name=run_name or self.run_name)
            )
            results = [r for v in run.run_results.values() for r in v.results]
            for r in results:
                cfg = r.expectation_config
                reason = (cfg.meta or {}).get("reason", cfg.type)
                rows = [int(u[ROW]) for u in (r.result.get("unexpected_index_list") or [])]
                if cfg.type == "expect_column_values_to_be_unique":
                    rows = _later_duplicates(df, rows)
                for i in rows:
                    reasons.setdefault(i, []).append(reason)
                # Only counts leave this function.
                summary.append(
                    {
                        "expectation": cfg.type,
                        "column": SOURCE_COLUMN.get(cfg.kwargs.get("column"), cfg.kwargs.get("column")),
                        "success": bool(not rows),
                        "unexpected_count": len(rows),
                    }
                )
        bad_idx = sorted(reasons)
        texts = table.column("text").take(pa.array(bad_idx, pa.int64())).to_pylist() if bad_idx else []
        rejects = [
            {
                "review_id": df.at[i, "review_id"] if isinstance(df.at[i, "review_id"], str) else None,
                "source_file": df.at[i, "source_file"],
                "source_row": int(df.at[i, "source_row"]),
                "stage": "validate",
                "reason": "; ".join(dict.fromkeys(reasons[i])),
                "text": text,
            }
            for i, text in zip(bad_idx, texts, strict=True)
        ]
        keep = pa.array(~df[ROW].isin(bad_idx).to_numpy())
        good_tbl = table.filter(keep)
        good = df.loc[~df[ROW].isin(bad_idx), ["rating", CREATED_TS]]
        valid = pa.table(
            {
                "review_id": good_tbl.column("review_id"),
                "text": good_tbl.column("text"),
                "title": good_tbl.column("title"),
                "product_id": good_tbl.column("product_id"),
                "rating": pa.array(pd.to_numeric(good["rating"], errors="coerce").astype("Int8"), pa.int8()),
                "created_at": pa.array(good[CREATED_TS], pa.timestamp("us", tz="UTC")),
                "source_file": good_tbl.column("source_file"),
                "source_row": good_tbl.column("source_row"),
                "source_kind": good_tbl.column("source_kind"),
            }
        )
        valid = valid.cast(VALIDATED) if len(valid) else VALIDATED.empty_table()
        return ValidationResult(valid, rejects, summary)


def validate(
    table: pa.Table, docs_dir: str | None = None, run_name: str = "nightly", day: str | None = None
) -> ValidationResult:
    """Validate one whole table, review_id uniqueness included (first seen by file/line wins).

    With ``docs_dir``, GX also renders its Data Docs (HTML) for this validation there.
    """
    return Validator(docs_dir, run_name, day).validate(table)


# -- review_id uniqueness across a day, in bounded memory ---------------------------------------
UNIQUE_EXPECTATION = "expect_column_values_to_be_unique"
UNIQUE_REASON = "duplicate review_id"


def id_hashes(review_ids: pa.ChunkedArray | pa.Array):
    """64-bit hashes of review_ids (pandas' SipHash, vectorised) and the mask of non-null ids."""
    import numpy as np
    import pandas as pd

    ids = review_ids.to_numpy(zero_copy_only=False)
    present = pd.notna(ids)
    return pd.util.hash_array(ids[present].astype(object), categorize=False).astype(np.uint64), present


def duplicate_losers(hashes, orders, exact_ids) -> np.ndarray:
    """Order keys of the rows that lose the uniqueness rule: every row whose review_id was
    seen before it in (file, line) order.

    ``hashes`` and ``orders`` (int64, unique per record) are parallel arrays over every row
    with a review_id; 16 bytes a row is all this holds for the day. Rows that share a hash are
    confirmed by their exact ids: ``exact_ids(order keys) -> {order key: review_id}`` reads
    just those (a 64-bit collision between different ids then costs nothing).
    """
    import numpy as np

    hashes, orders = np.asarray(hashes, np.uint64), np.asarray(orders, np.int64)
    idx = np.lexsort((orders, hashes))
    h = hashes[idx]
    same = np.zeros(len(h), dtype=bool)
    same[1:] = h[1:] == h[:-1]
    if not same.any():
        return np.empty(0, np.int64)
    # Every member of a group that shares a hash, first member included.
    group = same.copy()
    group[:-1] |= same[1:]
    candidates = orders[idx[group]]
    ids = exact_ids(candidates)
    seen: set = set()
    losers = []
    for o in np.sort(candidates):  # (file, line) order
        rid = ids[int(o)]
        if rid in seen:
            losers.append(o)
        else:
            seen.add(rid)
    return np.asarray(losers, np.int64)


def _later_duplicates(df, flagged: list[int]) -> list[int]:
    """GX flags every member of a duplicate group; keep the first seen, reject the rest."""
    if not flagged:
        return []
    sub = df.iloc[flagged].sort_values(["source_file", "source_row"])
    return [int(i) for i in sub.loc[sub.duplicated("review_id", keep="first"), ROW]]
