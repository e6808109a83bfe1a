"""SCIM errors: the status and `scimType` of RFC 7644 section 3.12, rendered once by the edge."""

from core.errors import GatehouseError


class ScimError(GatehouseError):
    def __init__(self, message: str, *, status: int = 400, scim_type: str | None = None):
        super().__init__(message)
        self.status = status
        self.scim_type = scim_type


def invalid_value(message: str) -> ScimError:
    return ScimError(message, scim_type="invalidValue")


def invalid_filter(message: str) -> ScimError:
    return ScimError(message, scim_type="invalidFilter")


def invalid_syntax(message: str) -> ScimError:
    return ScimError(message, scim_type="invalidSyntax")


def uniqueness(message: str) -> ScimError:
    return ScimError(message, status=409, scim_type="uniqueness")


def not_found(kind: str, scim_id) -> ScimError:
    return ScimError(f"No {kind} with id '{scim_id}'.", status=404)
