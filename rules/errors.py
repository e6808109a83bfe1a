"""Domain errors of the rules app, mapped to HTTP statuses once at the edge."""

from core.errors import Conflict, ValidationFailed


class InvalidRule(ValidationFailed):
    """A rule definition (detector, action, conditions or scope) was refused. `setting` names
    the detector or action setting at fault, for the form to show the error beside it."""

    def __init__(self, message: str, *, field: str | None = None, setting: str | None = None):
        super().__init__(message, field=field)
        self.setting = setting


class RuleNameTaken(Conflict):
    pass
