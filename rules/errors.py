"""Domain errors of the rules app, mapped to HTTP statuses once at the edge."""

from core.errors import Conflict, ValidationFailed


class InvalidRule(ValidationFailed):
    """A rule definition (detector, action, conditions or scope) was refused."""


class RuleNameTaken(Conflict):
    pass
