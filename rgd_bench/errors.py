"""Exceptions for bad user input: command-line tools print them as one line and exit 2."""


class UsageError(ValueError):
    """The user asked for something that cannot be done; the message says what is allowed."""


class MissingDataError(UsageError):
    """A dataset's files are not where ``--data_dir`` points; the message says how to get them."""
