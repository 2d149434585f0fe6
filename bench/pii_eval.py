"""Span-level precision/recall of nlp_tasks.pii on a Presidio-style data set.

    python bench/pii_eval.py --data PATH [--show-errors N]

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
                errors.append(f"FP {t:5} rec={idx} {text[max(0, s - 30):s]!r} <<{text[s:e]}>> {text[e:e + 20]!r}")
        for t, s, e in gold:
            n_gold[t] += 1
            if any(pt == t and _overlaps((s, e), (ps, pe)) for pt, ps, pe in pred):
                tp_gold[t] += 1
            elif len(errors) < show_errors:
                errors.append(f"FN {t:5} rec={idx} {text[max(0, s - 30):s]!r} <<{text[s:e]}>> {text[e:e + 20]!r}")
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="JSON list of {full_text, spans}")
    ap.add_argument(
        "--show-errors", type=int, default=0, metavar="N", help="print up to N misses/false alarms (shows raw values)"
    )
    args = ap.parse_args(argv)
    records = json.loads(args.data.read_text(encoding="utf-8"))
    report = evaluate(records, args.show_errors)
    print(f"{'type':8} {'gold':>5} {'pred':>5} {'precision':>9} {'recall':>7}")
    for t, r in report.items():
        print(f"{t:8} {r['gold']:5d} {r['predicted']:5d} {r['precision']:9.3f} {r['recall']:7.3f}")
    # The pipeline redacts through the batch path (RE2 prefilters pick the recognizers to
    # run per text); the scores above come from the single-text path. Both must agree.
    texts = [rec["full_text"] for rec in records]
    batch, _ = redact_batch(texts)
    differ = sum(b != redact(t).text for t, b in zip(texts, batch))
    print(f"batch path (prefilters) differs from single-text path on {differ} of {len(texts)} texts")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
