"""Who hears that a server went down.

Discovery finds it; the audit app raises the alert. Servers sits below audit in the layers and
cannot import it, so audit names its handler here when the app starts (audit/apps.py). One
explicit registration, greppable from both sides, rather than a signal.
"""

from collections.abc import Callable

_down_handlers: list[Callable[..., object]] = []


def when_server_goes_down(handler: Callable[..., object]) -> None:
    """Call `handler(server=..., detail=...)` each time a server turns down."""
    if handler not in _down_handlers:
        _down_handlers.append(handler)


def server_went_down(*, server, detail: str) -> None:
    for handler in _down_handlers:
        handler(server=server, detail=detail)
