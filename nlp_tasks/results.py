"""What each stage returns to XCom: small typed dicts of URIs and counts, never rows or text.

Every stage result carries ``rows`` (the rows the stage processed: what its metrics count)
and ``seconds`` (time inside the stage), so ``observability`` reads one key, whatever the
stage. TypedDicts rather than dataclasses because XCom serialises them as the plain JSON
objects they are, and mypy checks every key a stage writes or a consumer reads.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class StageResult(TypedDict):
    rows: int  # rows the stage processed
    seconds: float  # time spent inside the stage
    peak_rss_mb: NotRequired[float]  # the task's peak memory, added by the task wrapper


class IngestResult(StageResult):
    """One raw object read (``rows``: its records, good and bad)."""

    file: str
    records: int  # records read: every one ends in a shard or in quarantine
    parsed: int  # records parsed into shard rows
    rejected: int  # records quarantined while parsing
    shards: list[str]
    shard_bytes: list[int]
    quarantine: str | None


class ValidateBatchResult(StageResult):
    """One batch of the day's shards checked by Great Expectations."""

    index: int
    valid: int
    rejected: int
    ids: int
    ids_uri: str | None
    prevalidated: str | None
    quarantine: str | None
    expectations: list[dict]
    data_docs: str | None


class ValidateResult(StageResult):
    """The whole day validated: its balanced shards of valid rows."""

    shards: list[str]
    valid: int
    rejected: int
    quarantine: list[str]
    expectations: list[dict]
    data_docs: str | None


class ShardResult(StageResult):
    """One shard redacted, scored or shadow-scored."""

    shard: str
    pii: NotRequired[dict[str, int]]  # redact: entities replaced, per type
    model_version: NotRequired[str]  # score, shadow_score
    provider: NotRequired[str]
    cache_hits: NotRequired[int]  # score, with the score cache on
    uri: NotRequired[str | None]  # shadow_score: where its scores are (None: it failed)
    classes: NotRequired[list[str]]
    error: NotRequired[str | None]


class DriftResult(StageResult):
    """The day's drift verdict (``rows``: the day's scored rows)."""

    uri: str
    verdict: str
    drifted: list[str]
    drifted_by_reference: dict[str, list[str]]
    reference_days: list[str]
    baseline_date: str | None
    threshold: float
    alpha: float


class PublishResult(StageResult):
    """The published day (``rows``: records in, as ``rows_in``)."""

    dt: str
    rows_in: int
    rows_reported: int
    rows_quarantined: int
    pii_entities: int
    labels: dict[str, int]
    drift_verdict: str
    model_versions: list[str]
    report_uri: str
    html_report_uri: str | None
    run_summary: dict
    settled_drift: NotRequired[DriftResult]  # with settle_drift: the day's drift as settled after publishing
