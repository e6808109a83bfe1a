"""Domain errors of the gateways app."""

from teams.errors import Conflict, ValidationFailed


class NamespaceTaken(Conflict):
    pass


class InvalidToolPolicy(ValidationFailed):
    pass
