"""What configuration as code refuses beyond a file's own problems (those are `ConfigInvalid`)."""

from core.errors import Conflict


class NotExportable(Conflict):
    """The workspace holds something a configuration file cannot say, so no file would apply
    back to it unchanged."""
