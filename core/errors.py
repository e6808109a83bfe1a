"""The domain errors every app raises, mapped to HTTP statuses once at the edge."""


class GatehouseError(Exception):
    """Base of every domain error; `status` is the HTTP status the edge answers with."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(GatehouseError):
    status = 400


class Conflict(GatehouseError):
    status = 409


class NotFound(GatehouseError):
    status = 404


class CapabilityRequired(GatehouseError):
    status = 403

    def __init__(self, capability: str):
        super().__init__(f"This action needs the '{capability}' capability.")
        self.capability = capability


class ScopeRequired(GatehouseError):
    """An API token whose scopes (as its owner's role still allows them) do not cover the action."""

    status = 403

    def __init__(self, message: str, *, scope: str | None = None):
        super().__init__(message)
        self.scope = scope
