"""Domain errors of the gateways app."""

from dataclasses import dataclass

from core.errors import Conflict, ValidationFailed


class NamespaceTaken(Conflict):
    pass


class InvalidToolPolicy(ValidationFailed):
    pass


class InvalidLimits(ValidationFailed):
    pass


class ApprovalClosed(Conflict):
    """A decision came for a call already decided or timed out."""


@dataclass(frozen=True)
class Position:
    """A place in a configuration file, counted from 1 as editors show it."""

    line: int
    column: int

    def __str__(self):
        return f"{self.line}:{self.column}"


@dataclass(frozen=True)
class ConfigProblem:
    position: Position
    path: str
    message: str


class ConfigInvalid(Exception):
    """A configuration file (`manage.py apply`) was refused; nothing was changed."""

    def __init__(self, source: str, problems: list[ConfigProblem]):
        self.source = source
        self.problems = problems
        super().__init__(str(self))

    def __str__(self):
        return "\n".join(
            f"{self.source}:{p.position}: {p.path}: {p.message}" for p in self.problems
        )
