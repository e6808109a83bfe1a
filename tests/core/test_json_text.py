"""An encoder built once writes what json.dumps writes with the same options; the audit chain's
digests depend on it byte for byte."""

import json

import pytest

from core.json_text import COMPACT, encoder

VALUES = [
    {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "hello"}]}},
    {"z": 1, "a": [1.0, 2.5, -0.0, 1e20, 10**30, None, True, False], "m": {"b": {}, "a": []}},
    {"text": 'é ü 漢字 \u2028 \x00 \x7f "quoted" back\\slash', "emoji": "🙂"},
    {"lone": "\ud800", "nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")},
    {1: "int key", 2.5: "float key", False: "bool key", None: "null key"},
    "a string alone",
    12,
    3.25,
    None,
    [],
    {},
]
OPTIONS = [
    {},
    {"separators": COMPACT},
    {"separators": COMPACT, "ensure_ascii": False},
    {"separators": COMPACT, "ensure_ascii": False, "sort_keys": True},
    {"separators": COMPACT, "ensure_ascii": False, "default": str},
    {"ensure_ascii": False},
]


def _outcome(encode, value):
    try:
        return encode(value)
    except (TypeError, ValueError) as exc:
        return type(exc)


@pytest.mark.parametrize("options", OPTIONS, ids=repr)
def test_it_writes_what_json_dumps_writes(options):
    encode = encoder(**options)
    for value in VALUES:
        # Keys of several types cannot be sorted: both refuse them alike.
        assert _outcome(encode, value) == _outcome(lambda v: json.dumps(v, **options), value)


def test_it_is_reused_across_calls_with_the_same_result():
    encode = encoder(separators=COMPACT, sort_keys=True, ensure_ascii=False)
    value = {"b": [1, {"d": 2, "c": 3}], "a": "x"}
    assert encode(value) == encode(value) == '{"a":"x","b":[1,{"c":3,"d":2}]}'


def test_it_calls_default_for_other_objects_and_refuses_them_without_it():
    class Custom:
        def __str__(self):
            return "custom!"

    assert encoder(default=str)({"v": Custom()}) == '{"v": "custom!"}'
    with pytest.raises(TypeError):
        encoder()({"v": Custom()})


def test_it_refuses_keys_sort_keys_cannot_order():
    with pytest.raises(TypeError):
        encoder(sort_keys=True)({"a": 1, 2: "b"})


def test_a_value_that_holds_itself_raises_recursion_error():
    looped: dict = {}
    looped["self"] = looped
    with pytest.raises(RecursionError):
        encoder()(looped)
