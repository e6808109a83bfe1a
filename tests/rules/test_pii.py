"""The PII detector: each kind found, checksums and grammars keep look-alikes out."""

import pytest

from rules.detectors.pii import PiiDetector, card_valid, iban_valid
from rules.errors import InvalidRule
from tests.support.rules import rule, run


def found(text, kinds=None):
    d = PiiDetector(PiiDetector.clean_config({"kinds": kinds} if kinds else {}))
    return [(m.kind, text[m.start : m.end]) for m in d.find(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "write to jane.doe+ops@mail.example.co.uk today",
            ("email", "jane.doe+ops@mail.example.co.uk"),
        ),
        ("call +1 415 555 2671 now", ("phone", "+1 415 555 2671")),
        ("call +44 20 7946 0958 now", ("phone", "+44 20 7946 0958")),
        ("call (415) 555-2671 now", ("phone", "(415) 555-2671")),
        ("call 415-555-2671 now", ("phone", "415-555-2671")),
        ("visa 4111 1111 1111 1111 exp", ("card", "4111 1111 1111 1111")),
        ("amex 378282246310005 exp", ("card", "378282246310005")),
        ("mc 5555-5555-5555-4444 exp", ("card", "5555-5555-5555-4444")),
        ("ssn 123-45-6789 on file", ("ssn", "123-45-6789")),
        ("iban GB82 WEST 1234 5698 7654 32 ok", ("iban", "GB82 WEST 1234 5698 7654 32")),
        ("iban DE89370400440532013000 ok", ("iban", "DE89370400440532013000")),
        ("iban NL91ABNA0417164300 ok", ("iban", "NL91ABNA0417164300")),
        ("host 192.168.10.20 up", ("ipv4", "192.168.10.20")),
        ("host 2001:db8:85a3::8a2e:370:7334 up", ("ipv6", "2001:db8:85a3::8a2e:370:7334")),
    ],
)
def test_each_kind_is_found(text, expected):
    assert found(text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "visa 4111 1111 1111 1112 (Luhn fails)",
        "order 1234567890123456 shipped",  # Luhn fails and no issuer
        "ts 1700000000000 ms",
        "iban GB82 WEST 1234 5698 7654 33 (wrong check digits)",
        "iban DE00370400440532013000",
        "version 1.2.3.4.5 and 999.1.1.1",
        "meet at 12:30:45 on 2024-01-15",
        "std::vector<int> and a::b",
        "ssn 000-12-3456 and 666-12-3456 are never issued",
        "no personal data here at all",
        "user@localhost is not an address with a domain",
    ],
)
def test_look_alikes_are_not_reported(text):
    assert found(text) == []


def test_the_engine_finds_what_find_finds_in_each_string():
    # The engine judges "@"s and runs of digits once, on all the strings joined, and has each
    # string looked at only where that pointed: keys, neighbours and list items must not
    # change what a string holds.
    strings = [
        "write to jane.doe+ops@mail.example.co.uk today",
        "+1 415 555 2671",
        "(415) 555-2671 or 415-555-2671",
        "4111 1111 1111 1111",
        "ssn 123-45-6789",
        "GB82 WEST 1234 5698 7654 32",
        "NL91ABNA0417164300 and DE89370400440532013000",
        "order 1234567890123456 shipped, ts 1700000000000 ms",
        "req 4594-8711-120d, GET /api/v1/order/72757 200 570ms",
        "app@sha256:3efae162d7a4 and user@localhost",
    ]
    payload = {
        "content": [{"type": "text", "text": "\n".join(strings)}],
        "structuredContent": {"items": strings, "phone": "4155552671", "card": "4111111111111111"},
    }
    result = run([rule(detector="pii", action="flag")], payload)
    expected: dict[str, int] = {}
    for text in ["\n".join(strings), *strings, "4155552671", "4111111111111111"]:
        for kind, _ in found(text):
            expected[kind] = expected.get(kind, 0) + 1
    assert result.events[0]["kinds"] == expected
    assert set(expected) == {"email", "phone", "card", "ssn", "iban"}


def test_the_checksums():
    assert card_valid("4111111111111111") and not card_valid("4111111111111112")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765431")
    assert not iban_valid("XX82WEST12345698765432")  # unknown country


def test_kinds_narrow_the_detector_and_ip_is_an_alias():
    text = "mail a@b.example from 10.0.0.1"
    assert found(text, ["email"]) == [("email", "a@b.example")]
    assert found(text, ["ip"]) == [("ipv4", "10.0.0.1")]


def test_an_unknown_kind_is_refused():
    with pytest.raises(InvalidRule, match="Unknown PII kinds in 'kinds': passport"):
        PiiDetector.clean_config({"kinds": ["passport"]})
