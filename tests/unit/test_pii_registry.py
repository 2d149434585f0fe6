"""The recognizer registry checks what it is given, and says what is wrong without echoing text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nlp_tasks.pii import ENTITY_TYPES, RecognizerRegistry, Redactor
from nlp_tasks.pii.recognizers import (
    Candidate,
    EmailRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    Recognizer,
    VanityPhoneRecognizer,
    default_recognizers,
)
from nlp_tasks.pii.registry import MAX_RECOGNIZERS

SECRET = "jane.doe@example.org"


class _Base(Recognizer):
    """A do-nothing recognizer; each test sets the class attributes it is about."""

    def find(self, norm: str) -> Iterator[Candidate]:
        return iter(())


def _recognizer(**attrs: object) -> Recognizer:
    cls = type("Custom", (_Base,), {"entity_type": "EMAIL", "placeholder": "[EMAIL]", **attrs})
    return cls()


def test_default_registry_holds_every_entity_type_in_order():
    registry = RecognizerRegistry()
    assert registry.entity_types == ENTITY_TYPES
    assert [registry.placeholder(t) for t in ENTITY_TYPES] == [f"[{t}]" for t in ENTITY_TYPES]


def test_one_module_per_recognizer():
    modules = [type(r).__module__ for r in default_recognizers()]
    assert len(set(modules)) == len(modules)
    assert all(m.startswith("nlp_tasks.pii.recognizers.") for m in modules)


def test_a_valid_custom_registry_is_accepted_and_used():
    registry = RecognizerRegistry([EmailRecognizer(), _recognizer(entity_type="IP", placeholder="[IP]")])
    assert registry.entity_types == ("EMAIL", "IP")
    text = f"mail {SECRET} from 10.0.0.1, call 415-555-2671"
    assert Redactor(registry).redact(text).text == "mail [EMAIL] from 10.0.0.1, call 415-555-2671"
    # Two recognizers of one type (PHONE's numbers and vanity numbers) are fine.
    assert RecognizerRegistry([PhoneRecognizer(), VanityPhoneRecognizer()]).entity_types == ("PHONE",)


@pytest.mark.parametrize("thing", [SECRET, object(), None, lambda text: []], ids=["str", "object", "None", "function"])
def test_not_a_recognizer_is_a_type_error(thing):
    with pytest.raises(TypeError, match="expected a Recognizer") as exc:
        RecognizerRegistry([thing])
    assert SECRET not in str(exc.value)


def test_a_recognizer_class_instead_of_an_instance_is_a_type_error():
    with pytest.raises(TypeError, match="instance of EmailRecognizer, not the class"):
        RecognizerRegistry().add(EmailRecognizer)


@pytest.mark.parametrize("entity_type", ["PASSPORT", "email", "", None])
def test_unknown_entity_type_is_a_value_error(entity_type):
    with pytest.raises(ValueError, match="unknown entity type"):
        RecognizerRegistry([_recognizer(entity_type=entity_type, placeholder=f"[{entity_type}]")])


def test_missing_entity_type_is_a_value_error():
    with pytest.raises(ValueError, match="unknown entity type None"):
        RecognizerRegistry([type("NoType", (_Base,), {"placeholder": "[EMAIL]"})()])


@pytest.mark.parametrize("placeholder", ["[PHONE]", "<EMAIL>", "", None])
def test_placeholder_must_name_the_type(placeholder):
    with pytest.raises(ValueError, match=r"placeholder must be '\[EMAIL\]'"):
        RecognizerRegistry([_recognizer(placeholder=placeholder)])


@pytest.mark.parametrize("prefilter", ["", 42, b"@"])
def test_prefilter_must_be_a_pattern_or_none(prefilter):
    with pytest.raises(ValueError, match="prefilter must be"):
        RecognizerRegistry([_recognizer(prefilter=prefilter)])


def test_duplicate_recognizer_is_a_value_error_and_changes_nothing():
    email = EmailRecognizer()
    registry = RecognizerRegistry([email, IpRecognizer()])
    for dup in (email, EmailRecognizer(), IpRecognizer()):
        with pytest.raises(ValueError, match="already registered"):
            registry.add(dup)
    assert registry.entity_types == ("EMAIL", "IP")
    assert len(registry.prefilter([f"{SECRET} 10.0.0.1"])[0]) == 2
    with pytest.raises(ValueError, match="PhoneRecognizer is already registered"):
        RecognizerRegistry([*default_recognizers(), PhoneRecognizer(regions=("US",))])


def test_more_recognizers_than_prefilter_bits_is_a_value_error():
    many = [type(f"Email{i}", (EmailRecognizer,), {})() for i in range(MAX_RECOGNIZERS + 1)]
    registry = RecognizerRegistry(many[:MAX_RECOGNIZERS])
    with pytest.raises(ValueError, match=f"at most {MAX_RECOGNIZERS} recognizers"):
        registry.add(many[-1])
