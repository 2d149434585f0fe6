"""Unit tests for nlp_tasks.pii. Self-contained: no shared data is read."""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlp_tasks.pii import ENTITY_TYPES, RedactionResult, redact, redact_batch
from nlp_tasks.pii.recognizers import Candidate
from nlp_tasks.pii.registry import resolve_overlaps
from tests.helpers import HARD_NEGATIVES, IDEMPOTENCE_TEXTS

REPO = Path(__file__).resolve().parents[2]


def types(text: str) -> list[str]:
    return [e.type for e in redact(text).entities]


def spans(text: str) -> list[tuple[str, str]]:
    """(type, original substring) for each entity: checks offsets too."""
    return [(e.type, text[e.start : e.end]) for e in redact(text).entities]


# ------------------------------------------------------------------ API shape


def test_entity_types_and_placeholders():
    assert ENTITY_TYPES == ("EMAIL", "PHONE", "CARD", "SSN", "IP", "IBAN")
    text = (
        "a@example.com | call 415-555-2671 | 4242 4242 4242 4242 | ssn 536-90-4399"
        " | 192.168.0.1 | GB82WEST12345698765432"
    )
    assert redact(text).text == "[EMAIL] | call [PHONE] | [CARD] | ssn [SSN] | [IP] | [IBAN]"


def test_result_shape_and_entity_access():
    result = redact("write to jane.doe@example.org today")
    assert isinstance(result, RedactionResult)
    assert result.text == "write to [EMAIL] today"
    (e,) = result.entities
    assert (e.type, e.start, e.end) == ("EMAIL", 9, 29)
    assert e.to_dict() == {"type": "EMAIL", "start": 9, "end": 29}


def test_no_raw_values_in_reprs_or_logs(caplog):
    secret_text = "card 4242424242424242, mail jane.doe@example.org, ssn 536-90-4399"
    caplog.set_level(logging.DEBUG, logger="nlp_tasks.pii")
    result = redact(secret_text)
    redact_batch([secret_text])
    dumped = repr(result) + repr(result.entities) + str(result.entities) + caplog.text
    for raw in ("4242424242424242", "jane.doe", "536-90-4399"):
        assert raw not in dumped
        assert raw not in result.text


def test_redact_rejects_non_str_without_echoing_value():
    with pytest.raises(TypeError) as info:
        redact(4242424242424242)  # type: ignore[arg-type]
    assert "4242" not in str(info.value)


# ---------------------------------------------------------------------- EMAIL


@pytest.mark.parametrize(
    "value",
    ["jane.doe@example.org", "a.b+tag@sub.example.co.uk", "JonHeidurskuladottir@cuvox.de", "x_y-z%1@mail-host.io"],
)
def test_email_valid(value):
    assert spans(f"mail me: {value}.") == [("EMAIL", value)]


@pytest.mark.parametrize("text", ["a..b@example.com", "user@localhost", "@handle", "me@ex", "trailing.@example.com"])
def test_email_invalid(text):
    assert types(text) == []


# ---------------------------------------------------------------------- PHONE


@pytest.mark.parametrize(
    "text,value",
    [
        ("Call me at 415-555-2671 tomorrow", "415-555-2671"),
        ("(415) 555-2671", "(415) 555-2671"),
        ("+1 (415) 555-2671 x204", "+1 (415) 555-2671 x204"),
        ("office 415.555.2671 ext. 12", "415.555.2671 ext. 12"),
        ("call 1-800-555-0199", "1-800-555-0199"),
        ("call +44 20 7946 0958", "+44 20 7946 0958"),
        ("+442079460958", "+442079460958"),
        ("WhatsApp +33 6 12 34 56 78", "+33 6 12 34 56 78"),
        ("Tel. 030-12345678", "030-12345678"),
        ("Reach me on 07700 900123", "07700 900123"),
        ("001-748-088-2851x818 fax", "001-748-088-2851x818"),
        ("fax: 02.27.96.63.08", "02.27.96.63.08"),
        ("Phone: 2813882583", "2813882583"),
        ("You can call 33 93 31", "33 93 31"),
    ],
)
def test_phone_valid(text, value):
    assert spans(text) == [("PHONE", value)]


@pytest.mark.parametrize(
    "text",
    [
        "the number 1234567 is odd",  # bare digits need a real phone word
        "4155552671",  # bare 10 digits, no context
        "call me in 12 34",  # too short
        "call a taxi to 58 2347 Main Street",  # house number + zip
        "+1 555",  # impossible length for +1
        "call 12345678901234567",  # longer than E.164 allows
    ],
)
def test_phone_invalid(text):
    assert types(text) == []


# ----------------------------------------------------------------------- CARD


@pytest.mark.parametrize(
    "value",
    [
        "4242424242424242",  # Visa
        "4222222222222",  # Visa, 13 digits
        "5200828282828210",  # Mastercard
        "2223003122003222",  # Mastercard 2-series
        "371449635398431",  # Amex
        "6011000990139424",  # Discover
        "36227206271667",  # Diners, 14 digits
        "3566002020360505",  # JCB
        "6200000000000005",  # UnionPay
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "3714 496353 98431",  # Amex grouping
    ],
)
def test_card_valid(value):
    assert spans(f"my card {value} expires 12/29") == [("CARD", value)]


@pytest.mark.parametrize(
    "value",
    [
        "4242424242424241",  # Luhn fails
        "4242 4242 4242 4243",  # Luhn fails, grouped
        "1234567812345670",  # Luhn passes, no issuer starts with 1
        "371449635398431000",  # Amex prefix, wrong length
        "4242 4242-4242 4242",  # inconsistent separators
    ],
)
def test_card_invalid(value):
    assert "CARD" not in types(f"ref {value}")


# ------------------------------------------------------------------------ SSN


@pytest.mark.parametrize(
    "text,value",
    [
        ("SSN 536-90-4399", "536-90-4399"),
        ("it is 536-90-4399", "536-90-4399"),
        ("my social security number is 536904399", "536904399"),
        ("SSN: 536 90 4399", "536 90 4399"),
    ],
)
def test_ssn_valid(text, value):
    assert spans(text) == [("SSN", value)]


@pytest.mark.parametrize(
    "value",
    [
        "000-12-3456",  # area 000
        "666-12-3456",  # area 666
        "912-12-3456",  # area 900-999
        "536-00-4399",  # group 00
        "536-90-0000",  # serial 0000
        "078-05-1120",  # Woolworth wallet sample
        "219-09-9999",  # SSA advertising sample
    ],
)
def test_ssn_invalid(value):
    assert "SSN" not in types(f"ssn {value}")


def test_ssn_bare_digits_need_context():
    assert types("ticket 536904399 closed") == []
    assert types("SSN 536904399") == ["SSN"]


# ------------------------------------------------------------------------- IP


@pytest.mark.parametrize(
    "value",
    ["192.168.0.1", "8.8.8.8", "2001:db8::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:10.0.0.1", "fe80::1"],
)
def test_ip_valid(value):
    assert spans(f"blocked from {value} again") == [("IP", value)]


@pytest.mark.parametrize("text", ["256.1.1.1", "1.2.3", "01.02.03.04", "meet at 10:30:45", "version 1.2.3.4", "a::b"])
def test_ip_invalid(text):
    assert types(text) == []


# ----------------------------------------------------------------------- IBAN


@pytest.mark.parametrize(
    "value",
    [
        "GB82WEST12345698765432",
        "GB82 WEST 1234 5698 7654 32",
        "gb82west12345698765432",
        "DE89370400440532013000",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
    ],
)
def test_iban_valid(value):
    assert spans(f"IBAN {value} thanks") == [("IBAN", value)]


@pytest.mark.parametrize("value", ["GB83WEST12345698765432", "DE89370400440532013001", "XX89370400440532013000"])
def test_iban_invalid(value):
    assert types(f"IBAN {value}") == []


# ------------------------------------------------------------------ overlaps


def test_overlap_rules():
    rank = {t: i for i, t in enumerate(ENTITY_TYPES)}
    validated_short = Candidate("SSN", 5, 16, True)
    unvalidated_long = Candidate("PHONE", 0, 20, False)
    longer = Candidate("EMAIL", 30, 50, True)
    shorter = Candidate("CARD", 35, 45, True)
    early = Candidate("IP", 60, 70, True)
    late = Candidate("IBAN", 65, 75, True)
    cands = [validated_short, unvalidated_long, longer, shorter, early, late]
    expected = [("SSN", 5, 16), ("EMAIL", 30, 50), ("IP", 60, 70)]
    # Same answer whatever order the recognizers emitted candidates in.
    for perm in itertools.permutations(cands):
        got = [(e.type, e.start, e.end) for e in resolve_overlaps(perm, rank)]
        assert got == expected


def test_overlap_card_inside_email_and_ssn_vs_phone():
    assert spans("4242424242424242@example.com") == [("EMAIL", "4242424242424242@example.com")]
    # 3-2-4 is SSN-shaped; the SSN is validated, the phone guess is not.
    assert types("call 536-90-4399") == ["SSN"]


# -------------------------------------------------------- idempotence, unicode


@pytest.mark.parametrize("text", IDEMPOTENCE_TEXTS)
def test_idempotent(text):
    once = redact(text).text
    twice = redact(once)
    assert twice.text == once
    assert twice.entities == []


def test_placeholders_pass_through():
    text = "Call [PHONE] or mail [EMAIL]; card [CARD] ends [SSN] [IP] [IBAN]."
    assert redact(text).text == text


def test_unicode_fullwidth_nbsp_and_dashes_keep_original_offsets():
    text = (
        "Café ☕ card ４２４２ ４２４２ ４２４２ ４２４２, call ４１５–５５５–２６７１"
        " or 415\u00a0555\u00a02671, ssn 536\u201190\u20114399"
    )
    got = spans(text)
    assert got == [
        ("CARD", "４２４２ ４２４２ ４２４２ ４２４２"),
        ("PHONE", "４１５–５５５–２６７１"),
        ("PHONE", "415\u00a0555\u00a02671"),
        ("SSN", "536\u201190\u20114399"),
    ]
    assert redact(text).text == "Café ☕ card [CARD], call [PHONE] or [PHONE], ssn [SSN]"


def test_offsets_point_into_original():
    text = "Ünïcödé 😀 first a@b.io then +49 30 901820 and 8.8.4.4"
    result = redact(text)
    assert [text[e.start : e.end] for e in result.entities] == ["a@b.io", "+49 30 901820", "8.8.4.4"]


# ------------------------------------------------------------ hard negatives


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_untouched(text):
    result = redact(text)
    assert result.entities == []
    assert result.text == text


# -------------------------------------------------------------------- batch


def test_redact_batch():
    texts = ["call 415-555-2671 or 415-555-2672", None, "nothing here", "a@b.io 4242424242424242"]
    out, counts = redact_batch(iter(texts))
    assert out == ["call [PHONE] or [PHONE]", None, "nothing here", "[EMAIL] [CARD]"]
    assert counts == [{"PHONE": 2}, {}, {}, {"EMAIL": 1, "CARD": 1}]


def test_redact_batch_nan_is_null():
    out, counts = redact_batch([float("nan")])
    assert out == [None] and counts == [{}]


# ------------------------------------------------------------------ 1 MB doc


def test_one_megabyte_document_completes():
    chunk = "Loved it! Paid $19.99 on 2024-03-15. Call 415-555-2671 or mail a.b@example.com. "
    n = 1_000_000 // len(chunk) + 1
    doc = chunk * n
    result = redact(doc)
    assert len(result.entities) == 2 * n
    assert "415-555-2671" not in result.text


@pytest.mark.parametrize("unit", ["1", "1 ", "a@", "a:", "(1)", "1.", "\u00a01"])
def test_pathological_megabyte_inputs_complete(unit):
    redact(unit * (1_000_000 // len(unit)))


# ------------------------------------------------------------------------ CLI


def run_cli(tmp_path: Path, lines: list[bytes]) -> tuple[subprocess.CompletedProcess, list[dict]]:
    src = tmp_path / "in.jsonl"
    dst = tmp_path / "out.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "nlp_tasks.pii", "detect", "--input", str(src), "--output", str(dst)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    return proc, out


def test_cli_detect(tmp_path):
    text = "Call +1 (415) 555-2671 or write to jane@example.org"
    proc, out = run_cli(
        tmp_path,
        [
            json.dumps({"id": 1, "text": text}).encode(),
            json.dumps({"id": "b", "text": "ｍｙ ＩＰ ８.８.８.８"}, ensure_ascii=False).encode(),
            json.dumps({"id": 3, "text": None}).encode(),
        ],
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["id"] for r in out] == [1, "b", 3]
    first = out[0]
    assert first["redacted"] == "Call [PHONE] or write to [EMAIL]"
    assert [text[e["start"] : e["end"]] for e in first["entities"]] == ["+1 (415) 555-2671", "jane@example.org"]
    assert set(first["entities"][0]) == {"type", "start", "end"}
    assert out[1]["redacted"] == "ｍｙ ＩＰ [IP]"
    assert out[2] == {"id": 3, "redacted": None, "entities": []}


def test_cli_malformed_lines_reported_by_number(tmp_path):
    secret = "4242424242424242"
    proc, out = run_cli(
        tmp_path,
        [
            json.dumps({"id": 1, "text": "fine"}).encode(),
            b'{"id": 2, "text": "broken ' + secret.encode(),
            json.dumps([1, 2]).encode(),
            b'{"id": 4, "text": "\xff bad utf8"}',
            json.dumps({"id": 5, "text": 42}).encode(),
            json.dumps({"id": 6, "text": f"card {secret}"}).encode(),
        ],
    )
    assert proc.returncode != 0
    for n in (2, 3, 4, 5):
        assert f"line {n}" in proc.stderr
    assert "line 1:" not in proc.stderr and "line 6" not in proc.stderr
    assert secret not in proc.stderr
    assert [r["id"] for r in out] == [1, 6]
    assert out[1]["redacted"] == "card [CARD]"
