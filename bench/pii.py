"""Throughput of nlp_tasks.pii versus Presidio's regex recognizers.

    python bench/pii.py --data PATH [--mb 2] [--runs 3]
    python bench/pii.py --data ../shared/data/reviews_rated/amazon_products_train.jsonl --mb 6 --runs 5

PATH is a Presidio-style JSON list (``full_text``) or a reviews_rated JSONL
file (one object per line; ``title`` and ``text`` joined, as the pipeline
sees a review). Both engines see the same texts (replicated, if the file is
smaller, until the corpus reaches ``--mb`` megabytes of UTF-8) in the same
process. Presidio runs its six predefined recognizers for the same entity
types directly, without an NLP engine (``nlp_artifacts=None``), i.e. its
cheapest possible configuration. Reported: median MB/s over ``--runs`` runs
and the speed ratio.

If presidio-analyzer is not installed, only this engine is measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp_tasks.pii import redact, redact_batch  # noqa: E402


def _read_texts(path: Path) -> list[str]:
    if path.suffix == ".jsonl":
        base = []
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    obj = json.loads(line)
                    text = "\n".join(p for p in (obj.get("title"), obj.get("text")) if p)
                    if text:
                        base.append(text)
        return base
    records = json.loads(path.read_text(encoding="utf-8"))
    return [r["full_text"] for r in records if r.get("full_text")]


def load_corpus(path: Path, megabytes: float) -> tuple[list[str], int]:
    base = _read_texts(path)
    if not base:
        raise SystemExit("no texts in data file")
    target = int(megabytes * 1_000_000)
    texts: list[str] = []
    size = 0
    while size < target:
        for t in base:
            texts.append(t)
            size += len(t.encode("utf-8"))
            if size >= target:
                break
    return texts, size


def presidio_runner() -> Callable[[list[str]], int] | None:
    try:
        import tldextract
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UsSsnRecognizer,
        )
    except ImportError:
        return None
    # The email recognizer's TLD check would otherwise try to download the
    # public-suffix list on first use; the bundled snapshot is equivalent.
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    recognizers = [
        EmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        UsSsnRecognizer(),
        IpRecognizer(),
        IbanRecognizer(),
    ]

    def run(texts: list[str]) -> int:
        found = 0
        for text in texts:
            for r in recognizers:
                found += len(r.analyze(text, r.supported_entities, nlp_artifacts=None))
        return found

    return run


def ours(texts: list[str]) -> int:
    _, counts = redact_batch(texts)
    return sum(sum(c.values()) for c in counts)


def ours_per_text(texts: list[str]) -> int:
    # One redact() per text, no batch prefilter: what the CLI (``python -m nlp_tasks.pii
    # detect``) does. Kept lean on purpose: the batch prefilter needs pyarrow, whose import
    # (0.3 s, 110 MB) costs a CLI run on a few MB more than it saves.
    return sum(len(redact(t).entities) for t in texts)


Engine = Callable[[list[str]], int]


def measure(engines: dict[str, Engine], texts: list[str], runs: int) -> dict[str, tuple[float, int]]:
    """Median seconds per run and entities found, per engine.

    Runs are interleaved (A, B, A, B, ...) so that load from other processes
    on a shared machine hits both engines alike and the ratio stays stable.
    """
    for fn in engines.values():
        fn(texts[:50])  # warm-up: lazy tables, regex compilation, imports
    times: dict[str, list[float]] = {name: [] for name in engines}
    found: dict[str, int] = {}
    for _ in range(runs):
        for name, fn in engines.items():
            t0 = time.perf_counter()
            found[name] = fn(texts)
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(times[name]), found[name]) for name in engines}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="JSON list of {full_text, ...} or reviews JSONL")
    ap.add_argument("--mb", type=float, default=2.0, help="corpus size in MB (default 2)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per engine; the median is reported")
    args = ap.parse_args(argv)

    texts, size = load_corpus(args.data, args.mb)
    mb = size / 1_000_000
    print(f"corpus: {len(texts)} texts, {mb:.2f} MB, median of {args.runs} runs")

    engines: dict[str, Engine] = {"nlp_tasks.pii": ours, "pii per text": ours_per_text}
    run_presidio = presidio_runner()
    if run_presidio is not None:
        engines["presidio"] = run_presidio
    results = measure(engines, texts, args.runs)
    speeds = {}
    for name, (secs, found) in results.items():
        speeds[name] = mb / secs
        print(f"{name:14}: {speeds[name]:8.2f} MB/s  ({secs:.3f} s/run, {found} results)")
    if run_presidio is None:
        print("presidio      : skipped (presidio-analyzer is not installed)")
    else:
        print(
            f"speed-up      : {speeds['nlp_tasks.pii'] / speeds['presidio']:8.1f}x (batch: the DAG's redact stage), "
            f"{speeds['pii per text'] / speeds['presidio']:.1f}x (per text: the CLI)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
