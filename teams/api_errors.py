"""Maps domain errors to HTTP answers once, for the whole API.

Every error of the API has one shape, drf-standardized-errors' `{type, errors: [{code, detail,
attr}]}`: validation errors, refused credentials (401), missing capabilities (403), unknown
objects (404), wrong methods (405), rate limits (429), and the domain errors of core/errors.py,
which are turned into the DRF exception of the same status here before being formatted.
"""

from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, status

from core.errors import CapabilityRequired, GatehouseError, ScopeRequired, ValidationFailed


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


# The DRF exception (with its error code) each domain status becomes; the codes are the ones the
# schema lists for that status (teams/api_error_schemas.py).
_BY_STATUS = {
    status.HTTP_403_FORBIDDEN: exceptions.PermissionDenied,
    status.HTTP_404_NOT_FOUND: exceptions.NotFound,
    status.HTTP_409_CONFLICT: Conflict,
}


def as_api_exception(exc: GatehouseError) -> exceptions.APIException:
    """The DRF exception a domain error is answered with; the field it names becomes `attr`."""
    detail = {exc.field: [exc.message]} if exc.field else exc.message
    if isinstance(exc, ValidationFailed) or exc.status == status.HTTP_400_BAD_REQUEST:
        return exceptions.ValidationError(detail if exc.field else [exc.message], code="invalid")
    if isinstance(exc, CapabilityRequired):
        return exceptions.PermissionDenied(detail, code="capability_required")
    if isinstance(exc, ScopeRequired):
        return exceptions.PermissionDenied(detail, code="scope_required")
    api_exception = _BY_STATUS.get(exc.status)
    if api_exception is None:
        converted = exceptions.APIException(detail)
        converted.status_code = exc.status
        return converted
    return api_exception(detail)


class GatehouseExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, GatehouseError):
            return as_api_exception(exc)
        return super().convert_known_exceptions(exc)
