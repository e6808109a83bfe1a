"""Tool and argument matchers: act on calls by what they call and with which arguments.

`tools` are globs on the tool name as clients see it (`github__delete_*`); `arguments` are
matchers on the call's arguments, each naming a dotted path into them (`path`, `options.target`,
`*` for any top-level argument) and one test: `equals`, `prefix`, `suffix`, `contains`, `glob`
or `regex`. A call matches when its tool matches one of the globs (or no globs are given) and
one of the argument matchers holds (or none are given).
"""

from __future__ import annotations

import re

from rules.detectors.base import CALL_ACTIONS, Call, Detector, Match, check_settings, fail
from rules.patterns import PatternError, compile_globs, compile_pattern, matchable
from rules.setting_fields import JSON, STRINGS, Setting

TESTS = ("equals", "prefix", "suffix", "contains", "glob", "regex")
_PATH = re.compile(r"^(?:\*|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)$")


def glob_regex(patterns):
    """One compiled expression for a list of case-sensitive globs (RE2, see rules/patterns.py);
    its `match` holds when a whole name matches one of them."""
    return compile_globs(patterns)


def _bad(message: str):
    return fail(message, "arguments")


def _clean_matcher(index: int, matcher) -> dict:
    where = f"arguments[{index}]"
    if not isinstance(matcher, dict):
        raise _bad(f"{where} must be an object like {{path: 'path', prefix: '/etc'}}.")
    path = matcher.get("path")
    if not isinstance(path, str) or not _PATH.match(path):
        raise _bad(f"{where}.path must be a dotted argument path, or '*' for any argument.")
    tests = [t for t in TESTS if t in matcher]
    unknown = sorted(set(matcher) - {"path", "ignore_case", *TESTS})
    if unknown:
        raise _bad(f"{where} has unknown keys: {', '.join(unknown)}.")
    if len(tests) != 1:
        raise _bad(f"{where} needs exactly one test: {', '.join(TESTS)}.")
    test = tests[0]
    value = matcher[test]
    scalar = isinstance(value, str | int | float | bool)
    if not scalar or (test != "equals" and not isinstance(value, str)):
        raise _bad(f"{where}.{test} must be a string.")
    ignore_case = matcher.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise _bad(f"{where}.ignore_case must be true or false.")
    if test in ("regex", "glob"):
        try:
            _compile(test, value, ignore_case)
        except PatternError as exc:
            raise _bad(f"{where}.{test} {exc}") from exc
    return {"path": path, test: value, "ignore_case": ignore_case}


def _compile(test: str, value: str, ignore_case: bool):
    if test == "regex":
        return compile_pattern(value, ignore_case=ignore_case)
    return compile_globs([value], ignore_case=ignore_case)


class _ArgumentTest:
    def __init__(self, spec: dict):
        self.path = spec["path"]
        self.parts = () if self.path == "*" else tuple(self.path.split("."))
        self.fold = spec.get("ignore_case", False)
        self.test = next(t for t in TESTS if t in spec)
        value = spec[self.test]
        if self.test in ("regex", "glob"):
            self.regex = _compile(self.test, value, self.fold)
        self.value = value.lower() if self.fold and isinstance(value, str) else value

    def values(self, arguments: dict):
        if not self.parts:
            yield from ((str(k), v) for k, v in arguments.items())
            return
        node = arguments
        for part in self.parts:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return
        yield self.path, node

    def holds(self, value) -> bool:
        if self.test == "equals":
            if isinstance(self.value, str) and isinstance(value, str):
                return (value.lower() if self.fold else value) == self.value
            return value == self.value and type(value) is type(self.value)
        candidates = value if isinstance(value, list) else [value]
        for item in candidates:
            if not isinstance(item, str):
                continue
            text = item.lower() if self.fold else item
            if self.test == "prefix" and text.startswith(self.value):
                return True
            if self.test == "suffix" and text.endswith(self.value):
                return True
            if self.test == "contains" and self.value in text:
                return True
            if self.test == "regex" and self.regex.search(matchable(text)):
                return True
            if self.test == "glob" and self.regex.match(matchable(text)):
                return True
        return False


class ToolMatcher(Detector):
    key = "tool"
    label = "Tool and argument matcher"
    scope = "call"
    actions = CALL_ACTIONS
    settings = (
        Setting(
            "tools",
            "Tool-name globs",
            STRINGS,
            help="Such as github__delete_*, one per line. Empty: any tool.",
            default=[],
            max_length=1000,
        ),
        Setting(
            "arguments",
            "Argument matchers (JSON)",
            JSON,
            help='A JSON list, such as [{"path": "path", "prefix": "/etc"}]; each has a path '
            "and one test: equals, prefix, suffix, contains, glob or regex.",
            default=[],
        ),
    )

    @classmethod
    def clean_config(cls, config):
        # `match` is the short spelling of `tools` (one glob or a list), for JSON and `apply`.
        match = config.get("match") if isinstance(config, dict) else None
        if isinstance(config, dict) and "match" in config:
            config = {k: v for k, v in config.items() if k != "match"}
        if match is not None and not isinstance(match, str | list):
            raise fail("'match' must be a tool-name glob or a list of them.", "tools")
        if isinstance(match, str | list):
            listed = config.get("tools") or []
            config["tools"] = ([match] if isinstance(match, str) else match) + (
                listed if isinstance(listed, list) else [listed]
            )
        config = check_settings(cls.settings, config)
        tools, arguments = config["tools"], config["arguments"]
        if not isinstance(arguments, list):
            raise fail("'arguments' must be a list of argument matchers.", "arguments")
        if not tools and not arguments:
            raise fail("Give 'match' (a tool-name glob), 'tools' or 'arguments'.", "tools")
        try:
            glob_regex(tools)
        except PatternError as exc:
            raise fail(f"The tool globs {exc}", "tools") from exc
        return {
            "tools": sorted(set(tools)),
            "arguments": [_clean_matcher(i, m) for i, m in enumerate(arguments)],
        }

    def __init__(self, config):
        super().__init__(config)
        self.tools = glob_regex(config.get("tools"))
        self.arguments = [_ArgumentTest(m) for m in config.get("arguments") or ()]

    def inspect(self, call: Call) -> list[Match]:
        if self.tools is not None and not (call.tool_name and self.tools.match(call.tool_name)):
            return []
        if not self.arguments:
            return [Match("tool", path="name")]
        payload = call.payload if isinstance(call.payload, dict) else {}
        arguments = payload.get("arguments")
        if not isinstance(arguments, dict):
            return []
        for test in self.arguments:
            for path, value in test.values(arguments):
                if test.holds(value):
                    return [Match("argument", path=f"arguments.{path}")]
        return []
