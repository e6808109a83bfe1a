"""The error bodies the schema documents beyond drf-standardized-errors' own.

A 400 may come from a serializer or from a domain rule (core/errors.py) naming any field, or
none, so it is documented as one generic shape rather than an enum of each serializer's fields;
a 403 says whether a capability or a token scope was missing; 409 is the domain's `Conflict`.
"""

from django.db import models
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from rest_framework import serializers


class BadRequestType(models.TextChoices):
    VALIDATION_ERROR = "validation_error"
    CLIENT_ERROR = "client_error"


class ForbiddenCode(models.TextChoices):
    PERMISSION_DENIED = "permission_denied"
    CAPABILITY_REQUIRED = "capability_required"
    SCOPE_REQUIRED = "scope_required"


class ConflictCode(models.TextChoices):
    CONFLICT = "conflict"


class Error400Serializer(serializers.Serializer):
    code = serializers.CharField(help_text="`invalid`, `required`, `parse_error`, ...")
    detail = serializers.CharField()
    attr = serializers.CharField(
        allow_null=True, help_text="The field at fault (dotted when nested); null if none."
    )


class ErrorResponse400Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=BadRequestType.choices)
    errors = Error400Serializer(many=True)


class Error403Serializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=ForbiddenCode.choices)
    detail = serializers.CharField(help_text="Names the capability or scope that is missing.")
    attr = serializers.CharField(allow_null=True)


class ErrorResponse403Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = Error403Serializer(many=True)


class Error409Serializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=ConflictCode.choices)
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ErrorResponse409Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = Error409Serializer(many=True)
