"""Maps domain errors to HTTP answers once, for the whole API."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import CapabilityRequired, GatehouseError, ScopeRequired


def exception_handler(exc, context):
    if isinstance(exc, GatehouseError):
        body = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        if isinstance(exc, CapabilityRequired):
            body["capability"] = exc.capability
        if isinstance(exc, ScopeRequired) and exc.scope:
            body["scope"] = exc.scope
        return Response(body, status=exc.status)
    return drf_exception_handler(exc, context)
