"""The log pages' filters write structured values for people, never as Python's repr."""

from audit.templatetags.log_format import detail_fields, plain


def test_plain_values():
    assert plain(True) == "yes" and plain(False) == "no"
    assert plain(None) == "—"
    assert plain({"server": "everything"}) == '{"server": "everything"}'
    assert plain(["a", 1]) == '["a", 1]'
    assert plain("text") == "text" and plain(3) == "3"


def test_detail_fields():
    assert detail_fields({"applied": True, "rule_name": "pii", "spans": [1, 2]}) == [
        ("applied", "yes"),
        ("rule name", "pii"),
        ("spans", "[1, 2]"),
    ]
    assert detail_fields("a note") == [("", "a note")]
