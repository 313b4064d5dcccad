"""The one user-error type: the user must change an input to fix it."""


class OnkobenchError(Exception):
    """A problem with user input (file, config, option); printed as one line, exit code 2."""


class RunnerUnavailableError(OnkobenchError):
    """The model server stayed unreachable: the run stops; what finished is stored, a rerun continues."""


class DataRevisionWarning(UserWarning):
    """The data set may not be the commit a task's published numbers come from (the CLI prints it as one line)."""
