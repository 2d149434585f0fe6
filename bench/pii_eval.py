"""Span-level precision/recall of nlp_tasks.pii on a Presidio-style data set.

    python bench/pii_eval.py --data PATH [--show-errors N]
    python bench/pii_eval.py --faker-seed 2 [--faker-n 3000]     # generated set, see bench/pii_faker_set.py
    python bench/pii_eval.py --reviews ../shared/data/reviews_rated/amazon_products_train.jsonl [--max-reviews 30000]

``--faker-seed`` generates the labelled Faker set in-process (seed 1 is the
dev set the rules were tuned on; report on any other seed) and also prints
how many redactions landed on its hard negatives (target: 0).
``--reviews`` runs the engine over real reviews (JSONL with ``title`` and
``text``; several paths are read in turn up to ``--max-reviews``), which hold
almost no PII, and lists EVERY redaction with its type and a masked context
(digits -> 9, letters -> x inside the span; never the raw value) plus the
rate per 1,000 reviews (target < 1).

PATH is a JSON list of {"full_text", "spans": [{"entity_type",
"start_position", "end_position", ...}]}. A prediction is a true positive
when it overlaps a gold span of the same type; a gold span is recalled when
some prediction of its type overlaps it. Gold types outside the six handled
here are ignored (but predictions landing on them still count as false
positives).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp_tasks.pii import ENTITY_TYPES, redact, redact_batch  # noqa: E402

GOLD_TYPE_MAP = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CARD",
    "US_SSN": "SSN",
    "IP_ADDRESS": "IP",
    "IBAN_CODE": "IBAN",
}


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def evaluate(records: list[dict], show_errors: int = 0) -> dict[str, dict[str, float]]:
    tp_pred: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    tp_gold: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    errors: list[str] = []
    for idx, rec in enumerate(records):
        text = rec["full_text"]
        gold = [
            (GOLD_TYPE_MAP[s["entity_type"]], s["start_position"], s["end_position"])
            for s in rec["spans"]
            if s["entity_type"] in GOLD_TYPE_MAP
        ]
        pred = [(e.type, e.start, e.end) for e in redact(text).entities]
        for t, s, e in pred:
            n_pred[t] += 1
            if any(gt == t and _overlaps((s, e), (gs, ge)) for gt, gs, ge in gold):
                tp_pred[t] += 1
            elif len(errors) < show_errors:
                errors.append(f"FP {t:5} rec={idx} {text[max(0, s - 30) : s]!r} <<{text[s:e]}>> {text[e : e + 20]!r}")
        for t, s, e in gold:
            n_gold[t] += 1
            if any(pt == t and _overlaps((s, e), (ps, pe)) for pt, ps, pe in pred):
                tp_gold[t] += 1
            elif len(errors) < show_errors:
                errors.append(f"FN {t:5} rec={idx} {text[max(0, s - 30) : s]!r} <<{text[s:e]}>> {text[e : e + 20]!r}")
    for line in errors:
        print(line)

    def pr(tp_p: int, np_: int, tp_g: int, ng: int) -> dict[str, float]:
        return {
            "precision": tp_p / np_ if np_ else 1.0,
            "recall": tp_g / ng if ng else 1.0,
            "predicted": np_,
            "gold": ng,
        }

    report = {t: pr(tp_pred[t], n_pred[t], tp_gold[t], n_gold[t]) for t in ENTITY_TYPES}
    report["OVERALL"] = pr(sum(tp_pred.values()), sum(n_pred.values()), sum(tp_gold.values()), sum(n_gold.values()))
    return report


def _mask(value: str) -> str:
    """Shape of a value without the value: digits -> 9, letters -> x."""
    return "".join("9" if c.isdigit() else "x" if c.isalpha() else c for c in value)


def read_reviews(paths: list[Path], limit: int) -> list[str]:
    """Up to ``limit`` reviews, taken in turn from each file (round robin), so
    30,000 reviews from four sources are not all from the first one."""
    per_file: list[list[str]] = []
    for path in paths:
        texts: list[str] = []
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if len(texts) >= limit:
                    break
                if not line.strip():
                    continue
                obj = json.loads(line)
                parts = [obj.get("title") or "", obj.get("text") or ""]
                texts.append("\n".join(p for p in parts if p))
        per_file.append(texts)
    out: list[str] = []
    for i in range(max(map(len, per_file), default=0)):
        for texts in per_file:
            if i < len(texts) and len(out) < limit:
                out.append(texts[i])
    return out


def review_redactions(paths: list[Path], limit: int, context: int = 30) -> int:
    texts = read_reviews(paths, limit)
    by_type: Counter[str] = Counter()
    n_hit = 0
    lines: list[str] = []
    for idx, text in enumerate(texts):
        ents = redact(text).entities
        if ents:
            n_hit += 1
        for e in ents:
            by_type[e.type] += 1
            # The surrounding words are review prose (safe to show and needed to see
            # why it fired); the span itself is masked, and so are digits nearby,
            # which could be the rest of a number.
            left = "".join("9" if c.isdigit() else c for c in text[max(0, e.start - context) : e.start])
            right = "".join("9" if c.isdigit() else c for c in text[e.end : e.end + context])
            lines.append(f"{e.type:5} review={idx} {left!r} <<{_mask(text[e.start : e.end])}>> {right!r}")
    for line in lines:
        print(line)
    total = sum(by_type.values())
    per_k = 1000 * total / len(texts) if texts else 0.0
    print(
        f"reviews: {len(texts)}, redactions: {total} in {n_hit} reviews, {per_k:.2f} per 1,000 reviews;"
        f" by type {dict(by_type)}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="JSON list of {full_text, spans}")
    src.add_argument("--faker-seed", type=int, help="generate the Faker set with this seed (1 = dev)")
    src.add_argument("--reviews", type=Path, nargs="+", help="reviews_rated JSONL file(s): list every redaction")
    ap.add_argument("--faker-n", type=int, default=3000, help="records in the generated Faker set")
    ap.add_argument("--max-reviews", type=int, default=30000)
    ap.add_argument(
        "--show-errors", type=int, default=0, metavar="N", help="print up to N misses/false alarms (shows raw values)"
    )
    args = ap.parse_args(argv)
    if args.reviews:
        return review_redactions(args.reviews, args.max_reviews)
    if args.faker_seed is not None:
        from pii_faker_set import generate  # bench/ is on sys.path when run as a script

        records = generate(args.faker_seed, args.faker_n)
        print(f"Faker set: seed {args.faker_seed}, {len(records)} records")
    else:
        records = json.loads(args.data.read_text(encoding="utf-8"))
    report = evaluate(records, args.show_errors)
    print(f"{'type':8} {'gold':>5} {'pred':>5} {'precision':>9} {'recall':>7}")
    for t, r in report.items():
        print(f"{t:8} {r['gold']:5d} {r['predicted']:5d} {r['precision']:9.3f} {r['recall']:7.3f}")
    # The pipeline redacts through the batch path (RE2 prefilters pick the recognizers to
    # run per text); the scores above come from the single-text path. Both must agree.
    texts = [rec["full_text"] for rec in records]
    batch, _ = redact_batch(texts)
    differ = sum(b != redact(t).text for t, b in zip(texts, batch, strict=True))
    print(f"batch path (prefilters) differs from single-text path on {differ} of {len(texts)} texts")
    negatives = [t for rec, t in zip(records, texts, strict=True) if rec.get("kind") == "negative"]
    if negatives:
        hits = [e for t in negatives for e in redact(t).entities]
        print(f"hard negatives: {len(negatives)} texts, {len(hits)} redactions {dict(Counter(e.type for e in hits))}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
