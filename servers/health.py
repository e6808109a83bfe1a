"""Who hears that a server went down, or came back.

Discovery finds it; the audit app raises the alert and clears it. Servers sits below audit in
the layers and cannot import it, so audit names its handlers here when the app starts
(audit/apps.py). One explicit registration, greppable from both sides, rather than a signal.
"""

from collections.abc import Callable

_down_handlers: list[Callable[..., object]] = []
_back_handlers: list[Callable[..., object]] = []


def when_server_goes_down(handler: Callable[..., object]) -> None:
    """Call `handler(server=..., detail=...)` each time a server turns down."""
    if handler not in _down_handlers:
        _down_handlers.append(handler)


def when_server_comes_back(handler: Callable[..., object]) -> None:
    """Call `handler(server=...)` each time a server that was down answers again."""
    if handler not in _back_handlers:
        _back_handlers.append(handler)


def server_went_down(*, server, detail: str) -> None:
    for handler in _down_handlers:
        handler(server=server, detail=detail)


def server_came_back(*, server) -> None:
    for handler in _back_handlers:
        handler(server=server)
