"""Command line: ``python -m nlp_tasks.pii detect --input IN.jsonl --output OUT.jsonl``.

Each input line is ``{"id": ..., "text": ...}``; each output line is
``{"id", "redacted", "entities": [{"type", "start", "end"}]}`` in input order.
A bad line is reported on stderr by line number only (its content may be
PII), skipped, and makes the exit code 1; the remaining lines are processed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, BinaryIO, TextIO

from . import redact

EXIT_OK = 0
EXIT_BAD_LINES = 1
EXIT_USAGE = 2


def _parse_line(raw: bytes) -> tuple[Any, str | None]:
    """Return (id, text) or raise ValueError with a message free of content."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not valid UTF-8") from None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        # The decoder's own message quotes no input, but say it plainly anyway.
        raise ValueError("not valid JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    if "text" not in obj:
        raise ValueError('missing "text" field')
    text = obj["text"]
    if text is not None and not isinstance(text, str):
        raise ValueError(f'"text" must be a string or null, got {type(text).__name__}')
    return obj.get("id"), text


def detect(src: BinaryIO, dst: TextIO, err: TextIO) -> int:
    failures = 0
    # Bytes in, decoded per line, so one badly encoded line is one failed
    # line rather than the end of the run.
    for lineno, line in enumerate(src, start=1):
        if not line.strip():
            continue
        try:
            rec_id, text = _parse_line(line)
        except ValueError as exc:
            failures += 1
            print(f"error: line {lineno}: {exc}", file=err)
            continue
        if text is None:
            out = {"id": rec_id, "redacted": None, "entities": []}
        else:
            result = redact(text)
            out = {"id": rec_id, "redacted": result.text, "entities": [e.to_dict() for e in result.entities]}
        dst.write(json.dumps(out, ensure_ascii=False) + "\n")
    if failures:
        print(f"error: {failures} line(s) could not be processed", file=err)
        return EXIT_BAD_LINES
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp_tasks.pii", description="PII detection and redaction")
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("detect", help="redact a JSONL file of {id, text} records")
    d.add_argument("--input", required=True, help="input JSONL path ('-' for stdin)")
    d.add_argument("--output", required=True, help="output JSONL path ('-' for stdout)")
    args = ap.parse_args(argv)

    try:
        src = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    except OSError as exc:
        print(f"error: cannot open input: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        dst = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot open output: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    with src, dst:
        return detect(src, dst, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
