"""Drift checks of text features, scores, the label mix and rating agreement.

Each day is compared with one or more references (``rolling_7d``: the previous reported days
strictly before the day; ``baseline``: a fixed, published reference partition).

Continuous features use the two-sample Kolmogorov-Smirnov test; its statistic D (the largest
gap between the two empirical CDFs) is the effect size. The two categorical features use a
chi-square test of homogeneity on the counts, with the total variation distance (TVD: half
the L1 distance between the two share vectors, i.e. the share of reviews that would have to
change class) as the effect size:

* ``label_mix`` (negative/neutral/positive): KS assumes a continuous distribution; on three
  codes its p-value is far too conservative and its D depends on an arbitrary ordering of the
  classes. Chi-square is the textbook test for a categorical mix, and TVD is on the same 0..1
  scale as D (for a binary feature TVD *is* the KS D), so one threshold reads the same for all.
* ``rating_agreement``: the share of rated reviews whose predicted label matches the stars
  (1-2 negative, 3 neutral, 4-5 positive), a label-free proxy for model quality; tested as a
  2x2 table (agree/disagree, today/reference), effect = the absolute change in agreement.

A feature drifts only when BOTH the effect size passes ``threshold`` AND its Benjamini-Hochberg
adjusted p-value is below ``alpha``. At large volumes every tiny difference is "significant";
the effect-size gate keeps the alarm about differences that matter, and the p-value gate keeps
small samples from alarming on noise. All the day's tests (every feature against every
reference) form one BH family, since the day's verdict looks at all of them. Both sides are
capped at ``max_sample`` rows, so the test has the same power (and cost) at 1k and at 100M rows
a day.

The sample is a *hash sample* (``HashSample``): the ``max_sample`` rows with the smallest
64-bit hash of their review_id (keyed by the side's seed), kept in (day, review_id) order. It
is read a batch at a time (a shard, or a row group of a published file) and only the candidates
are held, so a drift task's memory is set by ``max_sample`` and one batch, never by the day;
and the rows picked depend on the rows alone, not on how they are split into shards or files
or in what order, so the scored shards of a run and the published partition of the day give
bit-identical drift rows (``settle``). Every feature is computed from the sample; the only
whole-day figure, the row count, is summed over the batches.

Command line::

    python -m nlp_tasks.drift set-baseline --data-root ROOT --date YYYY-MM-DD
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import sys
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import layout, partitions, schema

CONTINUOUS = (
    "text_length",
    "word_count",
    "avg_word_length",
    "unique_word_ratio",
    "non_letter_share",
    "unk_share",
    "pii_per_review",
    "score",
)
# Categorical features: name -> category codes (the feature arrays hold these integer codes).
CATEGORICAL = {
    "label_mix": ("negative", "neutral", "positive"),
    "rating_agreement": ("disagree", "agree"),
}
FEATURES = CONTINUOUS + tuple(CATEGORICAL)
LABEL_CODES = {name: i for i, name in enumerate(CATEGORICAL["label_mix"])}
STARS_TO_LABEL = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}

log = logging.getLogger(__name__)

# Columns of reports/sentiment that the features need (no other column is read).
REPORT_COLUMNS = ["text_redacted", "pii_entities", "score", "label", "rating"]
# What a sample holds: the feature columns and the review_id its hash is taken of.
SAMPLE_COLUMNS = [*REPORT_COLUMNS, "review_id"]
# Rows decoded at a time from a shard or a published file (published row groups are 64,000).
READ_BATCH_ROWS = 65_536
HASH_COLUMN = "_sample_hash"  # a sample's rows carry their hash (it picks the unk_share subset)
# The raw result of one comparison (before the day's BH adjustment and verdicts).
RAW_FIELDS = (
    "feature",
    "reference",
    "test",
    "statistic",
    "p_value",
    "n_today",
    "n_reference",
    "mean_today",
    "mean_reference",
)
WINDOW = 7
BASELINE_PREFIX = "reference/baseline"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class DriftConfig:
    threshold: float = 0.1
    alpha: float = 0.05
    max_sample: int = 50_000
    seed: int = 20240101
    min_rows: int = 20


# -- features ---------------------------------------------------------------------------
def text_features(texts: list[str]) -> dict[str, np.ndarray]:
    arr = pa.array(texts, pa.string()).fill_null("")
    length = pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(np.float64)
    letters = pc.utf8_length(pc.replace_substring_regex(arr, r"[^\p{L}]", "")).to_numpy(zero_copy_only=False)
    # One text's words at a time: the word lists of 50,000 long reviews held together would
    # be tens of millions of Python strings (1.3 GB at 2,000 characters a review).
    n = len(arr)
    wc, uniq, wlen = np.zeros(n), np.zeros(n), np.zeros(n)
    for start in range(0, n, 4096):
        for i, t in enumerate(arr.slice(start, 4096).to_pylist(), start):
            w = _WORD.findall(t.lower())
            wc[i], uniq[i], wlen[i] = len(w), len(set(w)), sum(map(len, w))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "text_length": length,
            "word_count": wc,
            "avg_word_length": np.where(wc > 0, wlen / wc, 0.0),
            "unique_word_ratio": np.where(wc > 0, uniq / wc, 0.0),
            "non_letter_share": np.where(length > 0, 1.0 - letters / np.maximum(length, 1), 0.0),
        }


def tokenizer_file(path: str | os.PathLike | None) -> str | None:
    """``path`` may be a model folder (holding tokenizer.json) or the tokenizer.json itself."""
    if path is None:
        return None
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    return path if os.path.isfile(path) else None


@lru_cache(maxsize=4)
def _load_tokenizer(path: str):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_padding()  # the model's tokenizer.json pads and truncates; shares need neither
    tok.no_truncation()
    return tok


def unk_share(texts: list[str | None], tokenizer: str | os.PathLike) -> np.ndarray:
    """Per text, the share of its tokens that the tokenizer maps to [UNK] (0 for empty text)."""
    path = tokenizer_file(tokenizer)
    if path is None:
        raise FileNotFoundError(f"no tokenizer.json at {tokenizer}")
    tok = _load_tokenizer(path)
    unk = tok.get_vocab().get("[UNK]")
    if unk is None:
        model = json.loads(tok.to_str()).get("model", {})
        unk = tok.token_to_id(model.get("unk_token") or "[UNK]")
    out = np.zeros(len(texts), dtype=np.float64)
    batch = 1024
    for start in range(0, len(texts), batch):
        chunk = [t or "" for t in texts[start : start + batch]]
        for i, enc in enumerate(tok.encode_batch(chunk, add_special_tokens=False)):
            ids = enc.ids
            if ids:
                out[start + i] = sum(1 for x in ids if x == unk) / len(ids)
    return out


def label_codes(labels) -> np.ndarray:
    return np.array([LABEL_CODES[label] for label in labels if label in LABEL_CODES], dtype=np.int64)


def agreement_flags(ratings, labels) -> np.ndarray:
    """1 where the label matches the stars, 0 where not; unrated rows are left out."""
    return np.array(
        [
            int(STARS_TO_LABEL.get(int(r)) == label)
            for r, label in zip(ratings, labels, strict=True)
            if r is not None and int(r) in STARS_TO_LABEL
        ],
        dtype=np.int64,
    )


# Tokenizing is the one costly feature (~100 us a text). KS on 20,000 values per side
# already resolves D ~ 0.014 at alpha 0.05, far below any useful drift threshold.
MAX_TOKENIZED = 20_000


def report_features(
    table: pa.Table, tokenizer: str | os.PathLike | None = None, max_tokenized: int = MAX_TOKENIZED, seed: int = 0
) -> dict[str, np.ndarray]:
    """Features of report rows (columns of REPORT_COLUMNS; missing optional ones are skipped).

    ``unk_share`` is computed on at most ``max_tokenized`` rows: those with the smallest
    HASH_COLUMN (a hash sample's own hashes, so the subset is split-independent too), in table
    order; without that column, a seeded random subset."""
    texts = table.column("text_redacted").to_pylist()
    feats = text_features(texts)
    tokenizer_json = tokenizer_file(tokenizer)
    if tokenizer_json is not None:
        subset = texts
        if len(texts) > max_tokenized:
            if HASH_COLUMN in table.column_names:
                h = table.column(HASH_COLUMN).to_numpy()
                pick = np.sort(np.argsort(h, kind="stable")[:max_tokenized])
            else:
                pick = np.random.default_rng(seed).choice(len(texts), size=max_tokenized, replace=False)
            subset = [texts[i] for i in pick]
        feats["unk_share"] = unk_share(subset, tokenizer_json)
    feats["pii_per_review"] = table.column("pii_entities").to_numpy(zero_copy_only=False).astype(np.float64)
    feats["score"] = table.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    if "label" in table.column_names:
        labels = table.column("label").to_pylist()
        feats["label_mix"] = label_codes(labels)
        if "rating" in table.column_names:
            feats["rating_agreement"] = agreement_flags(table.column("rating").to_pylist(), labels)
    return feats


# -- the hash sample: bounded memory, independent of how a day is split ---------------
def _hash_key(seed: int) -> str:
    return f"{seed & 0xFFFFFFFFFFFFFFFF:016x}"  # pandas' SipHash key: 16 bytes


def id_hashes(review_ids, seed: int) -> np.ndarray:
    """A 64-bit hash of each review_id, keyed by ``seed``: a function of the id alone."""
    from pandas.util import hash_array

    ids = review_ids.cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False)
    return hash_array(ids.astype(object, copy=False), encoding="utf8", hash_key=_hash_key(seed), categorize=False)


class HashSample:
    """The ``k`` rows with the smallest (hash of review_id, review_id, source) of all rows added.

    Rows come a batch at a time; a row whose hash is above the k-th smallest seen so far can
    never be picked and is dropped at once, so at most 2k rows plus one batch are held
    (``add_sources`` learns the cut from the ids first: then k rows). The
    rows picked, and ``table()``'s order (source, then review_id), depend only on the set of
    (source, row) added, not on batches, files or their order. ``source`` tells the days of a
    window apart. A table without review_id (a baseline set before it was kept) is keyed by row
    position instead: deterministic for a fixed object, not split-independent.
    """

    def __init__(self, k: int, seed: int) -> None:
        self.k, self.seed = int(k), int(seed)
        self.rows = 0  # every row added, picked or not
        self.peak_held = 0  # the most rows held at once (tests check the bound)
        self._parts: list[pa.Table] = []
        self._held = 0
        self._cut: int | None = None  # the k-th smallest hash so far, once k rows were seen

    def add(self, batch: pa.Table | pa.RecordBatch, source: int = 0) -> HashSample:
        n = batch.num_rows
        if n == 0:
            return self
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        table = table.select([c for c in SAMPLE_COLUMNS if c in table.column_names])
        if "review_id" in table.column_names:
            h = id_hashes(table.column("review_id"), self.seed)
        else:
            from pandas.util import hash_array

            pos = np.arange(self.rows, self.rows + n, dtype=np.uint64)
            h = hash_array(pos ^ np.uint64(self.seed & 0xFFFFFFFFFFFFFFFF))
            table = table.append_column("_ord", pa.array(pos.astype(np.int64)))
        self.rows += n
        table = table.append_column(HASH_COLUMN, pa.array(h, pa.uint64())).append_column(
            "_src", pa.array(np.full(n, source, np.int32))
        )
        if self._cut is not None:
            keep = h <= np.uint64(self._cut)
            if not keep.all():
                table = table.filter(pa.array(keep))
        self._parts.append(table)
        self._held += table.num_rows
        self.peak_held = max(self.peak_held, self._held)
        if self._held > 2 * self.k:
            self._compact()
        return self

    def add_files(self, lake, uris: list[str], source: int = 0) -> HashSample:
        return self.add_sources(lake, [(uris, source)])

    def add_sources(self, lake, sources: list[tuple[list[str], int]]) -> HashSample:
        """Add every file of every (files, source), in two passes: the review_ids alone first,
        to learn the k-th smallest hash, then the rows at or under it. So at most k rows of text
        are held besides one batch, however long the texts (a day of 2,000-character reviews
        held 2k of them plus copies: 1.4 GB). Same rows as adding every batch."""
        cut = self._cut_of(lake, sources)
        if cut is not None:
            self._cut = cut if self._cut is None else min(self._cut, cut)
        for uris, source in sources:
            for uri in uris:
                for batch in parquet_batches(lake, uri, SAMPLE_COLUMNS):
                    self.add(batch, source)
        return self

    def _cut_of(self, lake, sources) -> int | None:
        """The k-th smallest review_id hash of the files, or None (fewer than k rows, or a file
        without review_id: those are keyed by position and take one pass)."""
        best = np.zeros(0, dtype=np.uint64)
        for uris, _ in sources:
            for uri in uris:
                for batch in parquet_batches(lake, uri, ["review_id"]):
                    if "review_id" not in batch.schema.names:
                        return None
                    best = np.concatenate([best, id_hashes(batch.column("review_id"), self.seed)])
                    if len(best) > 2 * self.k:
                        best = np.partition(best, self.k - 1)[: self.k]
        if len(best) < self.k or self.k <= 0:
            return None
        return int(np.partition(best, self.k - 1)[self.k - 1])

    def _ids(self, table: pa.Table) -> list[str]:
        return [c for c in ("review_id", "_ord") if c in table.column_names]

    def _compact(self) -> pa.Table:
        table = self._parts[0] if len(self._parts) == 1 else pa.concat_tables(self._parts, promote_options="permissive")
        if table.num_rows > self.k:
            keys = [HASH_COLUMN, *self._ids(table), "_src"]
            idx = pc.sort_indices(table.select(keys), sort_keys=[(c, "ascending") for c in keys])[: self.k]
            table = table.take(idx)
            self._cut = int(pc.max(table.column(HASH_COLUMN)).as_py())
        self._parts, self._held = [table], table.num_rows
        return table

    def table(self) -> pa.Table | None:
        """The sample in (source, review_id) order; None if no row was added."""
        if not self._parts:
            return None
        table = self._compact()
        keys = ["_src", *self._ids(table)]
        table = table.take(pc.sort_indices(table.select(keys), sort_keys=[(c, "ascending") for c in keys]))
        return table.drop_columns([c for c in ("_src", "_ord") if c in table.column_names])


def parquet_batches(lake, uri: str, columns: list[str], batch_rows: int | None = None):
    """A Parquet object's ``columns`` (those it has) in batches of at most ``batch_rows``
    (READ_BATCH_ROWS) rows, read a row group at a time: never the whole object."""
    return partitions.batches(lake, uri, columns, batch_rows or READ_BATCH_ROWS)


def _cap(a: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(a) <= n:
        return a
    return a[np.random.default_rng(seed).choice(len(a), size=n, replace=False)]


# -- tests ------------------------------------------------------------------------------
def _categorical_test(a: np.ndarray, b: np.ndarray, k: int) -> tuple[float, float]:
    """(TVD, chi-square p-value) of two samples of integer codes 0..k-1."""
    from scipy.stats import chi2_contingency

    ca = np.bincount(a, minlength=k)[:k].astype(np.float64)
    cb = np.bincount(b, minlength=k)[:k].astype(np.float64)
    tvd = 0.5 * float(np.abs(ca / ca.sum() - cb / cb.sum()).sum())
    keep = (ca + cb) > 0
    if keep.sum() < 2:  # one class only on both sides: nothing can differ
        return 0.0, 1.0
    res = chi2_contingency(np.vstack([ca[keep], cb[keep]]))
    return tvd, float(res.pvalue)


def compare(
    today: dict[str, np.ndarray], reference: dict[str, np.ndarray], cfg: DriftConfig, reference_name: str
) -> list[dict]:
    """One row per feature with the raw test result (no multiple-testing adjustment yet)."""
    from scipy.stats import ks_2samp

    rows = []
    for f in FEATURES:
        a, b = today.get(f), reference.get(f)
        row: dict[str, Any] = {
            "feature": f,
            "reference": reference_name,
            "test": "chi2" if f in CATEGORICAL else "ks",
            "statistic": None,
            "p_value": None,
            "n_today": int(0 if a is None else len(a)),
            "n_reference": int(0 if b is None else len(b)),
            "mean_today": None,
            "mean_reference": None,
        }
        rows.append(row)
        if a is None or b is None or len(a) < cfg.min_rows or len(b) < cfg.min_rows:
            continue
        # Seeded caps per side: the same rows are drawn for every feature of one side.
        a = _cap(np.asarray(a), cfg.max_sample, cfg.seed)
        b = _cap(np.asarray(b), cfg.max_sample, cfg.seed + 1)
        row["n_today"], row["n_reference"] = int(len(a)), int(len(b))
        if f in CATEGORICAL:
            stat, p = _categorical_test(a, b, len(CATEGORICAL[f]))
            # For label_mix the "mean" is the negative share; for agreement the agreement share.
            pick = 0 if f == "label_mix" else 1
            row["mean_today"], row["mean_reference"] = float(np.mean(a == pick)), float(np.mean(b == pick))
        else:
            with warnings.catch_warnings():  # small samples with ties: scipy falls back to asymp
                warnings.simplefilter("ignore", RuntimeWarning)
                res = ks_2samp(a, b)
            stat, p = float(res.statistic), float(res.pvalue)
            row["mean_today"], row["mean_reference"] = float(np.mean(a)), float(np.mean(b))
        row["statistic"], row["p_value"] = stat, p
    return rows


def judge(rows: list[dict], cfg: DriftConfig) -> list[dict]:
    """Benjamini-Hochberg over all tested rows, then the verdict per row (in place)."""
    from scipy.stats import false_discovery_control

    tested = [r for r in rows if r["p_value"] is not None]
    if tested:
        adjusted = false_discovery_control([r["p_value"] for r in tested], method="bh")
        for r, p in zip(tested, adjusted, strict=True):
            r["p_adjusted"] = float(p)
    for r in rows:
        r.setdefault("p_adjusted", None)
        r["threshold"] = cfg.threshold
        r["alpha"] = cfg.alpha
        if r["p_value"] is None:
            r["verdict"] = "insufficient_data"
        elif r["statistic"] >= cfg.threshold and r["p_adjusted"] < cfg.alpha:
            r["verdict"] = "drift"
        else:
            r["verdict"] = "ok"
    return rows


def drift_rows(
    today: dict[str, np.ndarray], references: dict[str, dict[str, np.ndarray] | None], cfg: DriftConfig
) -> list[dict]:
    """Compare with every reference (None = no data) and judge all tests as one BH family."""
    rows = []
    for name, ref in references.items():
        rows += compare(today, ref or {}, cfg, name)
    return judge(rows, cfg)


def day_verdict(rows: list[dict]) -> str:
    verdicts = {r["verdict"] for r in rows}
    if not rows or verdicts == {"insufficient_data"}:
        return "no_reference"
    return "drift" if "drift" in verdicts else "ok"


# -- the fixed baseline -----------------------------------------------------------------
def baseline_files(lake) -> tuple[list[str], dict] | None:
    """The published baseline's files and metadata (its ``_SUCCESS``), or None if none is set."""
    prefix = lake.uri(BASELINE_PREFIX)
    meta = partitions.marker(lake, prefix)
    if meta is None:
        return None
    return partitions.files(lake, prefix) or [], meta


def read_baseline(lake) -> tuple[pa.Table, dict] | None:
    """The published baseline (table of REPORT_COLUMNS, metadata) whole, or None if none is
    set: for tools and tests; drift samples it a batch at a time (baseline_files)."""
    found = baseline_files(lake)
    if found is None:
        return None
    table = partitions.read(lake, lake.uri(BASELINE_PREFIX), REPORT_COLUMNS)
    return table, found[1]


def report_day_files(lake, day: str) -> list[str] | None:
    """The Parquet files of a published reports/sentiment partition (possibly none), or
    None if it is not complete."""
    return partitions.files(lake, lake.uri(layout.report(layout.SENTIMENT, day)))


# -- the rolling window, and drift that does not depend on the order days were published --
def window_days(lake, day: str, window: int = WINDOW) -> list[str]:
    """Published days strictly before ``day``, newest ``window`` of them within ``window`` days."""
    d0 = dt.date.fromisoformat(day)
    days = partitions.published_days(lake, lake.uri(layout.report_table(layout.SENTIMENT)))
    return [d for d in days if d0 - dt.timedelta(days=window) <= dt.date.fromisoformat(d) < d0][-window:]


# The seeds of the three sides' hash samples (and of compare's caps: today and the references).
def today_sample(cfg: DriftConfig) -> HashSample:
    return HashSample(cfg.max_sample, cfg.seed)


def rolling_sample(cfg: DriftConfig) -> HashSample:
    return HashSample(cfg.max_sample, cfg.seed + 1)


def baseline_sample(cfg: DriftConfig) -> HashSample:
    return HashSample(cfg.max_sample, cfg.seed + 2)


def features_of(sample: HashSample, tokenizer) -> dict | None:
    """The features of a sample's rows (None without rows). The sample's (day, review_id) order
    fixes the float sums behind the means, so the same rows give bit-identical drift rows."""
    table = sample.table()
    if table is None or table.num_rows == 0:
        return None
    return report_features(table, tokenizer, max_tokenized=MAX_TOKENIZED)


def rolling_reference(
    lake, day: str, cfg: DriftConfig, tokenizer, window: int = WINDOW
) -> tuple[dict | None, list[str]]:
    """Features of the published days in ``day``'s window (one hash sample over all of them,
    read a batch at a time), and those days."""
    days = window_days(lake, day, window)
    sample = rolling_sample(cfg).add_sources(lake, [(report_day_files(lake, d) or [], i) for i, d in enumerate(days)])
    return features_of(sample, tokenizer), days


def result_of(rows: list[dict], references: list[str], rolling_days: list[str], n_today: int, cfg: DriftConfig) -> dict:
    """The drift task's result (what XCom, the manifest and alerts carry: never text)."""
    by_ref = {
        name: [r["feature"] for r in rows if r["reference"] == name and r["verdict"] == "drift"] for name in references
    }
    drifted = sorted({f for fs in by_ref.values() for f in fs}, key=FEATURES.index)
    base = sorted({r["reference_days"] for r in rows if r["reference"] == "baseline"})
    return {
        "verdict": day_verdict(rows),
        "drifted": drifted,
        "drifted_by_reference": by_ref,
        "reference_days": rolling_days,
        "baseline_date": base[0] if base else None,
        "threshold": cfg.threshold,
        "alpha": cfg.alpha,
        "rows": n_today,
    }


def _partition(lake, table: str, day: str) -> pa.Table | None:
    return partitions.read(lake, lake.uri(layout.report(table, day)))


def recompute(
    lake, day: str, tokenizer_for=None, window: int = WINDOW, max_sample: int = 50_000
) -> tuple[pa.Table, dict] | None:
    """The drift rows of a published day against its rolling window as published *now*.

    Pure (writes nothing). Everything else is the day's own, from its published partitions:
    today's rows (``reports/sentiment``), threshold, alpha, run_id and the baseline comparison
    (``reports/drift``: its raw statistics are re-adjusted with the new rolling ones as one BH
    family). ``tokenizer_for(model_version)`` gives the tokenizer of the model that scored the
    day (None: no unk_share). None if the day has no complete sentiment and drift partitions.
    """
    old = _partition(lake, layout.DRIFT, day)
    files = report_day_files(lake, day)
    if old is None or old.num_rows == 0 or not files:
        return None
    old_rows = old.to_pylist()
    cfg = DriftConfig(threshold=old_rows[0]["threshold"], alpha=old_rows[0]["alpha"], max_sample=max_sample)
    seen: set[str] = set()
    for uri in files:
        for batch in parquet_batches(lake, uri, ["model_version"]):
            if "model_version" in batch.schema.names:
                seen.update(v for v in pc.unique(batch.column("model_version")).to_pylist() if v)
    today = today_sample(cfg).add_files(lake, files)
    versions = sorted(seen)
    tokenizer = tokenizer_for(versions[0]) if versions and tokenizer_for else None
    name = f"rolling_{window}d"
    today_feats = features_of(today, tokenizer)
    rolling, days = rolling_reference(lake, day, cfg, tokenizer, window)
    kept = [r for r in old_rows if r["reference"] != name]
    rows = compare(today_feats or {}, rolling or {}, cfg, name) + [{k: r[k] for k in RAW_FIELDS} for r in kept]
    judge(rows, cfg)
    ref_days = {name: ",".join(days), **{r["reference"]: r["reference_days"] for r in kept}}
    run_id = old_rows[0]["run_id"]
    for r in rows:
        r["reference_days"] = ref_days[r["reference"]]
        r["run_id"] = run_id
    references = [name, *dict.fromkeys(r["reference"] for r in kept)]
    return pa.Table.from_pylist(rows, schema=schema.DRIFT), result_of(rows, references, days, today.rows, cfg)


def settle(lake, day: str, tokenizer_for=None, window: int = WINDOW) -> list[dict]:
    """Make the drift of ``day`` and of every published day whose window holds it final.

    Call right after ``day`` is published, with no other publish running (the nightly DAG's
    publish task does, limited to one instance across all runs). Recomputes ``day`` and each
    published day in ``day+1 .. day+window`` from the published partitions; where a result
    changed, replaces the drift partition, the summary's ``drift_verdict``, the manifest's drift
    fields and the HTML page. Why this makes every day's drift independent of the order (and
    the parallelism) of a backfill: for a day X, take the last publish among X and its window
    days; it runs after every other publish of those days (publishes never overlap), it
    settles X, and it sees all of them in their final state. So the last write of X's drift is
    a function of the final partitions alone. Returns one entry per day looked at.
    """
    d0 = dt.date.fromisoformat(day)
    later = [(d0 + dt.timedelta(days=i)).isoformat() for i in range(1, window + 1)]
    targets = [day] + [d for d in later if partitions.is_complete(lake, lake.uri(layout.report(layout.SENTIMENT, d)))]
    out = []
    for d in targets:
        got = recompute(lake, d, tokenizer_for, window)
        if got is None:
            log.warning("drift of %s not settled: no complete sentiment and drift partitions", d)
            continue
        table, result = got
        changed = _apply(lake, d, table, result)
        result["uri"] = lake.uri(layout.report(layout.DRIFT, d), layout.SINGLE_FILE)
        log.info(
            "drift of %s settled against %s: %s%s",
            d,
            ",".join(result["reference_days"]) or "-",
            result["verdict"],
            " (updated)" if changed else "",
        )
        out.append({"dt": d, "changed": changed, "result": result})
    return out


def _apply(lake, day: str, table: pa.Table, result: dict) -> bool:
    """Write what changed of a day's drift result; True if anything did."""
    changed = False
    prefix = lake.uri(layout.report(layout.DRIFT, day))
    old = _partition(lake, layout.DRIFT, day)
    # compare() gives every feature a row, so a drift table is never empty.
    run_id: str = table.column("run_id")[0].as_py() if table.num_rows else ""
    if old is None or not old.equals(table):
        partitions.write(lake, prefix, table, run_id)  # one atomic replace, then the marker
        changed = True
    summary = _partition(lake, layout.SUMMARY, day)
    if summary is not None and set(summary.column("drift_verdict").to_pylist()) != {result["verdict"]}:
        i = summary.column_names.index("drift_verdict")
        summary = summary.set_column(
            i, summary.schema.field(i), pa.array([result["verdict"]] * summary.num_rows, pa.string())
        )
        s_prefix = lake.uri(layout.report(layout.SUMMARY, day))
        # A complete summary partition (one _partition read) has a marker naming its run.
        partitions.write(lake, s_prefix, summary, (partitions.marker(lake, s_prefix) or {}).get("run_id") or "")
        changed = True
    m_uri = lake.uri(layout.manifest(day))
    if lake.exists(m_uri):
        manifest = json.loads(lake.read_text(m_uri))
        fields = {
            "drift_verdict": result["verdict"],
            "drifted_features": result["drifted"],
            "reference_days": result["reference_days"],
        }
        if any(manifest.get(k) != v for k, v in fields.items()):
            manifest.update(fields)
            lake.write_text(m_uri, json.dumps(manifest, indent=2) + "\n")
            changed = True
    if changed:
        try:
            from . import html_report

            html_report.write_day(lake, day, run_id)
        except Exception:  # the Parquet is what counts; a chart page must not fail the night
            log.exception("html report for %s not rewritten", day)
    return changed


def set_baseline(lake, day: str) -> dict:
    """Publish ``reports/sentiment/dt=day`` (the feature columns and review_id, which the hash
    sample is keyed by) as the fixed baseline.

    Copied a batch at a time into staged files (partitions.StagedWriter), then committed like a
    report partition (partitions.commit): readers see the old baseline or the new one.
    """
    layout.check_date(day)
    files = report_day_files(lake, day)
    staging = lake.uri(BASELINE_PREFIX + "-staging")
    writer = None
    for uri in files or []:
        for batch in parquet_batches(lake, uri, SAMPLE_COLUMNS):
            table = pa.Table.from_batches([batch])
            if writer is None:
                lake.delete_prefix(staging)
                writer = partitions.StagedWriter(lake, staging, table.schema)
            writer.write(table)  # another file's types are cast to the first's
    if writer is None:
        raise FileNotFoundError(f"no complete reports/sentiment partition for {day} under {lake.root}")
    meta = {
        "dt": day,
        "source": lake.uri(layout.report(layout.SENTIMENT, day)),
        "set_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    marker = partitions.commit(lake, lake.uri(BASELINE_PREFIX), writer.close(), "set-baseline", **meta)
    lake.delete_prefix(staging)
    return {**meta, "rows": marker["rows"]}


def main(argv: list[str] | None = None) -> int:
    from .storage import lake_for

    p = argparse.ArgumentParser(prog="python -m nlp_tasks.drift", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sb = sub.add_parser("set-baseline", help="publish a reported day as the fixed drift baseline")
    sb.add_argument("--data-root", required=True)
    sb.add_argument("--date", required=True, help="YYYY-MM-DD of a published reports/sentiment partition")
    sh = sub.add_parser("show-baseline", help="print the current baseline's metadata")
    sh.add_argument("--data-root", required=True)
    args = p.parse_args(argv)
    lake = lake_for(args.data_root)
    if args.cmd == "set-baseline":
        try:
            meta = set_baseline(lake, args.date)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(json.dumps(meta))
        return 0
    found = read_baseline(lake)
    print(json.dumps(found[1] if found else None))
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
