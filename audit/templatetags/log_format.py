"""Template filters of the log pages: payloads pretty-printed, structured details and latencies
written for people."""

import json

from django import template

register = template.Library()


@register.filter
def pretty_json(value) -> str:
    """Indented JSON, keys sorted, non-ASCII kept; autoescaping still applies to the result."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def ms(value) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


@register.filter
def plain(value) -> str:
    """A detail's value as people read it: yes/no for booleans, JSON (not Python's repr) for
    lists and objects, the text itself for strings."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
    return str(value)


@register.filter
def detail_fields(value) -> list[tuple[str, str]]:
    """An object's entries as (label, plain value) pairs; anything else as one unnamed value."""
    if isinstance(value, dict):
        return [(str(key).replace("_", " "), plain(item)) for key, item in value.items()]
    return [("", plain(value))]
