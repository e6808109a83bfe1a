"""What the connector prints. Strings from the platform or a child are shown escaped.

A command line, a server name or a reason may hold control characters (`\\r`, `\\x1b[2K`, a
bidi override) that would rewrite what the terminal shows, so a person could approve one
command while reading another. Every line goes through `printable` before it is written.
"""

import sys

NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` with every non-printable character written as its escape, as repr() would."""
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    if char in NAMED:
        return NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def say(text: str) -> None:
    print(f"gatehouse-connect: {printable(text)}", flush=True)


def note(text: str) -> None:
    """A line on stderr (a child's output, prefixed with its server's name)."""
    print(printable(text), file=sys.stderr, flush=True)
