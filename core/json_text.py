"""JSON text from the standard library's C encoder, built once per form rather than per call.

`json.dumps` with any option, and `JSONEncoder.encode`, build a new C encoder (and a dict to
detect cycles) on every call, which costs about as much as encoding a small JSON-RPC message;
a call through the gateway encodes several, and the audit writer several per entry. An encoder
made here writes the very same text as `json.JSONEncoder` with the same options. It does not
look for cycles: a value that contains itself raises RecursionError where `json.dumps` raises
ValueError (messages and payloads come from JSON, which cannot hold a cycle).
"""

import json
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring, encode_basestring_ascii

COMPACT = (",", ":")


def encoder(
    *,
    separators: tuple[str, str] = (", ", ": "),
    ensure_ascii: bool = True,
    sort_keys: bool = False,
    default: Callable | None = None,
) -> Callable[[object], str]:
    """A function of one value returning its JSON text, as `json.dumps(value, **options)`."""
    reference = json.JSONEncoder(
        separators=separators, ensure_ascii=ensure_ascii, sort_keys=sort_keys, default=default
    )
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return reference.encode
    item_separator, key_separator = separators
    chunks = c_make_encoder(
        None,  # no cycle check: see above
        reference.default,
        encode_basestring_ascii if ensure_ascii else encode_basestring,
        None,  # no indent
        key_separator,
        item_separator,
        sort_keys,
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )
    join = "".join

    def encode(value) -> str:
        return join(chunks(value, 0))

    return encode
