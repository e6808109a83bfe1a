"""Why a request to a managed server could not be answered, mapped to JSON-RPC errors."""

INTERNAL_ERROR = -32603
REQUEST_TIMEOUT = -32001
REQUEST_CANCELLED = -32800


class SupervisorError(Exception):
    """Base of the supervisor's errors; `code` is the JSON-RPC error code the bridge answers."""

    code = INTERNAL_ERROR

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ServerUnavailable(SupervisorError):
    """The child could not be started or initialised."""


class ChildExited(SupervisorError):
    """The child died while a request was in flight on it."""


class ChildTimeout(SupervisorError):
    code = REQUEST_TIMEOUT


class RequestCancelled(SupervisorError):
    code = REQUEST_CANCELLED


class SandboxUnavailable(ServerUnavailable):
    """No sandbox can start on this host, and the operator has not opted out of it."""
